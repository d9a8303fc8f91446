"""tinynets.run.resume: resume after SIGKILL equals an uninterrupted run, a half-finished sweep re-run,
refusals of another run's dir; determinism; a divergence stops the run in one line (and counts
as complete). Data: tiny synthetic IDX files; debug=fast."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli_env, png_size, tiny
from tests.helpers.sweeps import read_csv, run_single, train_inprocess

pytestmark = pytest.mark.usefixtures("one_thread")

TIMINGS = ("seconds", "fit_s", "wall_s", "cpu_s", "first_step_s", "pid", "resumed_from", "overrides")


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def without_timings(m: dict) -> dict:
    m = {k: v for k, v in m.items() if k not in TIMINGS}
    m["history"] = [{k: v for k, v in r.items() if k not in TIMINGS} for r in m.get("history", [])]
    return m


# ----------------------------------------------------------------------------- resume
@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_metrics(tmp_path, tiny_mnist):
    """3 epochs of 4 batches with augmentation, dropout and a cosine schedule. The first run is
    killed (SIGKILL) in the middle of epoch 2; the same command continues from epoch 1's
    last.ckpt. The result is identical to an uninterrupted run (CPU, one thread: exact)."""
    args = (*tiny(tiny_mnist), "trainer.max_epochs=3", "scheduler=cosine", "data.augment.rotation=10")
    progress, run_dir = tmp_path / "progress", tmp_path / "run"
    slow = f"+callbacks.throttle={{_target_: tests.helpers.throttle.Throttle, progress: {progress}}}"
    cmd = [sys.executable, str(ROOT / "train.py"), *args, slow, f"hydra.run.dir={run_dir}"]
    env = cli_env()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:  # wait for epoch 2, batch 2 of 4
        if progress.exists() and "1 1" in progress.read_text().splitlines():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert progress.read_text().split("\n")[:6] == ["0 0", "0 1", "0 2", "0 3", "1 0", "1 1"]
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and not (run_dir / "metrics.json").exists()
    assert png_size(run_dir / "curves.png")[0] >= 600  # epoch 1's curves, whole, written when it ended

    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in done.stdout
    assert "[Epoch 1]" not in done.stdout and "[Epoch 2]" in done.stdout and "[Epoch 3]" in done.stdout
    assert progress.read_text().split("\n")[6:8] == ["1 0", "1 1"]  # epoch 2 again from its start
    resumed = metrics(run_dir)
    assert resumed["resumed_from"] == str(run_dir / "checkpoints" / "last.ckpt")

    code, err = train_inprocess(*args, f"hydra.run.dir={tmp_path / 'straight'}")
    assert code == 0, err
    straight = metrics(tmp_path / "straight")
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]
    assert len({r["lr"] for r in straight["history"]}) == 3  # the schedule did move
    assert without_timings(resumed) == without_timings(straight)


@pytest.mark.slow
def test_rerun_of_a_half_finished_sweep_skips_complete_jobs_and_resumes_the_rest(tmp_path, tiny_mnist):
    """gap_conv's job crashes at the start of its epoch 2; the same command again leaves the
    complete deep_narrow job alone and continues gap_conv from its epoch-1 checkpoint."""
    sweep, marker = tmp_path / "sweep", tmp_path / "crash"
    marker.write_text("gap_conv")
    crash = f"+callbacks.crash={{_target_: tests.helpers.throttle.CrashAt, epoch: 1, marker: {marker}, " \
            "model: '${hydra:runtime.choices.model}'}"
    args = ("-m", "model=deep_narrow,gap_conv", *tiny(tiny_mnist), "trainer.max_epochs=2", crash,
            f"hydra.sweep.dir={sweep}")
    code, err = train_inprocess(*args)
    assert code == 1 and "1 of 2 jobs failed" in err
    (ok_dir,) = [p.parent for p in sweep.rglob("metrics.json") if metrics(p.parent)["status"] == "ok"]
    (crashed,) = [p.parent for p in sweep.rglob("metrics.json") if metrics(p.parent)["status"] == "failed"]
    assert metrics(ok_dir)["model"] == "deep_narrow" and metrics(crashed)["model"] == "gap_conv"
    assert metrics(crashed)["error"] == "RuntimeError: injected crash at epoch 2"
    assert (crashed / "checkpoints" / "last.ckpt").exists()
    before = (ok_dir / "metrics.json").read_bytes(), (ok_dir / "metrics.json").stat().st_mtime_ns

    marker.unlink()
    code, err = train_inprocess(*args)
    assert code == 0, err
    assert ((ok_dir / "metrics.json").read_bytes(), (ok_dir / "metrics.json").stat().st_mtime_ns) == before
    m = metrics(crashed)
    assert m["status"] == "ok" and m["resumed_from"] == str(crashed / "checkpoints" / "last.ckpt")
    assert [r["epoch"] for r in m["history"]] == [1, 2]
    assert [r["status"] for r in read_csv(sweep / "leaderboard.csv")] == ["ok", "ok"]


def test_resuming_from_another_models_checkpoint_is_refused(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    code, err = train_inprocess(*tiny(tiny_mnist), "model=gap_fc", f"hydra.run.dir={run_dir}")
    assert code == 0, err
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != "train.log"}

    code, err = train_inprocess(*tiny(tiny_mnist), "model=deep_narrow", f"hydra.run.dir={run_dir}")
    assert code == 2
    assert err.strip() == (f"error: model='deep_narrow' is not allowed: {run_dir} holds a complete run (ok) with "
                           "model=gap_fc; a resumed run continues the same run (only trainer.max_epochs, "
                           "paths.data_dir, paths.root_dir, ... may change): use another run dir, or resume=false "
                           "to start over there")
    # nothing changed there: Hydra's rewritten .hydra/*.yaml were put back from the checkpoint
    assert {p: p.read_bytes() for p in files} == files
    assert {p for p in run_dir.rglob("*") if p.is_file() and p.name != "train.log"} == set(files)

    # the same run again is complete: not trained again
    code, err = train_inprocess(*tiny(tiny_mnist), "model=gap_fc", f"hydra.run.dir={run_dir}")
    assert code == 0 and {p: p.read_bytes() for p in files} == files


def test_a_checkpoint_whose_weights_do_not_fit_is_refused(tmp_path, tiny_mnist, make_cfg):
    """Same overrides, other weights (e.g. a conf/model file changed since): the shapes decide."""
    import torch

    from tinynets.run.classify import _run
    from tinynets.run.resume import Plan, ResumeRefused

    cfg = make_cfg(*tiny(tiny_mnist))
    ckpt = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"net.c1.conv.weight": torch.zeros(3, 1, 3, 3)}, "callbacks": {}}, ckpt)
    with pytest.raises(ResumeRefused, match=r"^model='sep' is not allowed: .*other.ckpt holds a checkpoint "
                                            r"of other weights \(1 tensors\), this run builds 4,608 params"):
        _run(cfg, Plan(ckpt=ckpt))


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_config_same_metrics(tmp_path, tiny_mnist):
    args = (*tiny(tiny_mnist), "trainer.max_epochs=2", "data.augment.rotation=10", "dropout.p=0.1")
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, err = train_inprocess(*args, f"seed={seed}", f"hydra.run.dir={tmp_path / name}")
        assert code == 0, err
        runs[name] = without_timings(metrics(tmp_path / name))
    assert runs["a"] == runs["b"]
    assert runs["a"]["history"] != runs["c"]["history"]  # the seed does matter


# ----------------------------------------------------------------------------- divergence
def test_divergence_stops_the_run_with_one_line(make_cfg, tiny_mnist, capsys):
    cfg = make_cfg(*tiny(tiny_mnist), "lr=1e30")
    code, err = run_single(cfg, capsys)
    assert code == 1
    assert re.fullmatch(r"error: diverged at epoch 1 step \d+ \(loss=(nan|inf)\)\n", err)
    run_dir = Path(cfg.paths.output_dir)
    m = metrics(run_dir)
    assert m["status"] == "diverged" and err == f"error: {m['error']}\n"
    assert m["history"] == [] and not (run_dir / "checkpoints").exists()  # stopped inside epoch 1


def test_a_diverged_job_is_one_failed_row(tmp_path, tiny_mnist):
    sweep = tmp_path / "sweep"
    code, err = train_inprocess("-m", "lr=0.05,1e30", *tiny(tiny_mnist), f"hydra.sweep.dir={sweep}")
    assert code == 1
    ok, diverged = read_csv(sweep / "leaderboard.csv")
    assert ok["status"] == "ok" and "lr=0.05" in ok["job"]
    assert re.fullmatch(r"diverged at epoch 1 step \d+ \(loss=(nan|inf)\)", diverged["status"])
    assert metrics(sweep / diverged["job"])["lr"] == 1e30
