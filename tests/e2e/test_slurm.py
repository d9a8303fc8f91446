"""Sweeps and search on a real SLURM (the single-node cluster of scripts/local-cluster, which CI
starts): the LR grid as SLURM jobs gives a local run's leaderboard; a 2-worker search as a job array
finishes the study's budget; a job requeued mid-run (as a preemption does) resumes from its last.ckpt
and ends where an uninterrupted run does; one sweep job as a 2-task DDP job matches local DDP.
Tiny synthetic data, a few batches, one thread per task."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, SMALL_RUN, cli_env
from tests.helpers.cluster import postgres_url, slurm_partition
from tests.helpers.sweeps import read_csv, run_train

pytestmark = pytest.mark.slow

# small jobs: one CPU and 1 GB each, so that the two CPUs of the test node run two at once
SMALL_JOBS = ("hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=15")
TIMING = ("wall_s",)  # the only leaderboard column that depends on the machine's load
DOC = ROOT / "docs" / "scale-out.md"


def doc_command(name: str) -> list[str]:
    """The command of docs/scale-out.md's `# tested: <name>` block, as argv after `python`: what the
    page tells a user to run is what these tests run (plus tiny data and small jobs)."""
    lines = DOC.read_text().splitlines()
    return shlex.split(lines[lines.index(f"# tested: {name}") + 1])[1:]


def key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def plus(args: list[str], *extra: str) -> list[str]:
    """`args` then the `extra` overrides whose keys `args` does not set."""
    keys = {key(a) for a in args}
    return [*args, *(e for e in extra if key(e) not in keys)]


def local(args: list[str]) -> list[str]:
    """The same command without SLURM: its hydra.launcher overrides left out."""
    return [a for a in args if not key(a).startswith(("hydra/launcher", "hydra.launcher"))]


def test_the_cluster_commands_are_what_ci_runs():
    lines = DOC.read_text().splitlines()
    i = lines.index("# tested: cluster")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for line in lines[i + 1:i + 3]:
        assert line.split("#")[0].strip() in ci


def rows(sweep: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_csv(sweep / "leaderboard.csv")]


def metrics(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


def same_training(a: dict, b: dict) -> None:
    """Two records of the same training: every epoch's numbers and the test accuracy."""
    keys = ("epoch", "train_loss", "val_loss", "val_acc", "lr")
    assert [{k: e.get(k) for k in keys} for e in a["history"]] == [{k: e.get(k) for k in keys} for e in b["history"]]
    assert (a["test_acc"], a["best_val_acc"], a["params"]) == (b["test_acc"], b["best_val_acc"], b["params"])


@pytest.mark.slurm
def test_an_lr_grid_on_slurm_gives_the_local_leaderboard(tmp_path, tiny_mnist):
    slurm_partition()
    grid = plus(doc_command("lr-grid")[1:], *SMALL_RUN, f"paths.data_dir={tiny_mnist}", *SMALL_JOBS)
    here = run_train(*local(grid), f"hydra.sweep.dir={tmp_path / 'local'}")
    assert here.returncode == 0, here.stderr[-3000:]
    slurm = run_train(*grid, f"hydra.sweep.dir={tmp_path / 'slurm'}", timeout=600)
    assert slurm.returncode == 0, slurm.stderr[-3000:]

    assert rows(tmp_path / "slurm") == rows(tmp_path / "local") and len(rows(tmp_path / "local")) == 2
    jobs = {metrics(p.parent)["slurm_job"] for p in (tmp_path / "slurm").rglob("metrics.json")}
    assert len(jobs) == 2 and None not in jobs  # two SLURM jobs ran them
    assert {m["slurm_job"] for m in map(metrics, (p.parent for p in (tmp_path / "local").rglob("metrics.json")))} \
        == {None}


@pytest.mark.postgresql
@pytest.mark.slurm
def test_a_search_as_a_slurm_job_array_finishes_the_budget(tmp_path, tiny_mnist):
    """`python -m tinynets.search.workers 2 --slurm --wait`: two array tasks, one PostgreSQL study;
    together they finish exactly n_trials trials, none RUNNING, and both ran trials."""
    slurm_partition()
    url = postgres_url()
    from tests.helpers.cluster import URL_FILE
    from tests.search.test_workers import load_study, search_args

    name, sweep = f"array_{uuid.uuid4().hex[:8]}", tmp_path / "sweep"
    cmd = plus(doc_command("search-array"), "--cpus-per-task=1", "--mem-gb=1", "--time-min=15",
               f"--log-dir={tmp_path / 'logs'}", *search_args(tiny_mnist, sweep, 4), f"hydra.sweeper.study_name={name}")
    done = subprocess.run([sys.executable, *cmd], cwd=ROOT, env=cli_env(TINYNETS_STORAGE_FILE=str(URL_FILE)),
                          capture_output=True, text=True, timeout=900)
    logs = "\n".join(p.read_text()[-1500:] for p in sorted((tmp_path / "logs").glob("*.out")))
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:] + logs
    assert done.stdout.startswith("submitted job array ")
    assert len(list((tmp_path / "logs").glob("worker-*_[01].out"))) == 2  # one log per array task
    study = load_study(url, name)
    assert len(study.trials) == 4 and {t.state.name for t in study.trials} == {"COMPLETE"}
    assert len({t.user_attrs["owner"] for t in study.trials}) == 2  # each array task ran trials
    assert {r["job"] for r in read_csv(sweep / "leaderboard.csv")} == {f"trial={n}" for n in range(4)}


def slurm_job_of(sweep: Path, timeout: float = 120) -> str:
    """The SLURM job id of the sweep's only job (submitit's folder is named by it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ids = [p.name for p in (sweep / ".submitit").glob("*") if p.name.isdigit()]
        if ids:
            return ids[0]
        time.sleep(0.2)
    raise AssertionError(f"no SLURM job in {sweep}/.submitit after {timeout:.0f} s")


def wait_for(path: Path, text: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in {path} in {timeout:.0f} s")


def requeue(job: str, timeout: float = 120) -> None:
    """`scontrol requeue` (what a preemption does), then let it start again now rather than after
    SLURM's requeue delay."""
    subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], capture_output=True)
        elif state == "RUNNING" or state == "":
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not start again in {timeout:.0f} s")


@pytest.mark.slurm
def test_a_requeued_job_resumes_from_its_last_checkpoint(tmp_path, tiny_mnist):
    slurm_partition()
    progress = tmp_path / "progress"
    throttle = f"+callbacks.throttle={{_target_: tests.helpers.throttle.Throttle, progress: {progress}, sleep: 0.5}}"
    job = plus([a for a in doc_command("lr-grid")[1:] if key(a) != "lr"], "lr=0.1", *SMALL_RUN,
               f"paths.data_dir={tiny_mnist}", "trainer.max_epochs=3", *SMALL_JOBS)
    sweep = tmp_path / "slurm"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *job, throttle, f"hydra.sweep.dir={sweep}"],
                            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    slurm_id = slurm_job_of(sweep)
    wait_for(progress, "1 1\n")  # inside epoch 2: epoch 1's last.ckpt is written
    requeue(slurm_id)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]

    (record,) = [metrics(p.parent) for p in sweep.rglob("metrics.json")]
    assert record["resumed_from"].endswith("last.ckpt") and record["slurm_job"] == slurm_id
    lines = progress.read_text().split("\n")
    assert lines.count("0 0") == 1 and lines.count("2 0") == 1  # epoch 1 ran once, the run went on after the requeue

    straight = run_train(*local(job), f"hydra.sweep.dir={tmp_path / 'local'}")  # the same run, never interrupted
    assert straight.returncode == 0, straight.stderr[-3000:]
    (reference,) = [metrics(p.parent) for p in (tmp_path / "local").rglob("metrics.json")]
    same_training(record, reference)


@pytest.mark.slurm
def test_a_sweep_job_as_a_two_task_ddp_job(tmp_path, tiny_mnist):
    """`hydra.launcher.tasks_per_node=2 trainer=ddp trainer.devices=2`: SLURM starts the two ranks,
    Lightning reads its environment; the record matches the local 2-process DDP run's."""
    slurm_partition()
    job = plus(doc_command("ddp")[1:], *SMALL_RUN, f"paths.data_dir={tiny_mnist}", *SMALL_JOBS)
    slurm = run_train(*job, f"hydra.sweep.dir={tmp_path / 'slurm'}", timeout=600)
    assert slurm.returncode == 0, slurm.stderr[-3000:]
    single = [a for a in local(job) if a != "-m"]  # the same run, DDP started by Lightning on this machine
    here = run_train(*single, f"hydra.run.dir={tmp_path / 'local'}")
    assert here.returncode == 0, here.stderr[-3000:]

    (record,) = [metrics(p.parent) for p in (tmp_path / "slurm").rglob("metrics.json")]
    reference = metrics(tmp_path / "local")
    assert record["world_size"] == reference["world_size"] == 2 and record["slurm_job"] is not None
    same_training(record, reference)
