"""tinynets.bench's commands: `python -m tinynets.bench` in quick mode on synthetic data (results.json
and the README rendered from it), the timed `train.py` run behind the time-to-target report, the
results store, the sweeps and GPU benches (synthetic numbers: test_numbers.py)."""

from __future__ import annotations

import json
import re

import pytest


@pytest.mark.slow
def test_bench_quick_writes_results_and_readme(tmp_path):
    from tinynets.bench.__main__ import main
    from tinynets.bench.render import render
    from tinynets.process import cpu_model

    assert main(["--quick", "--models", "deep_narrow", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (key, entry), = results["machines"].items()  # keyed by the CPU model
    assert key == cpu_model() == entry["machine"]["cpu"] and results["history"][-1]["machine"] == key
    res = entry["throughput"]
    m = res["models"]["deep_narrow"]
    assert res["quick"] and m["params"] == 12_088 and m["batch_size"] == 32
    i = m["img_per_s"]
    assert set(i) == {"seed", "tinynets", "raw"} and all(v > 0 for v in i.values())
    assert m["speedup_vs_seed_pipeline"] == pytest.approx(i["tinynets"] / i["seed"], rel=1e-2)
    assert m["ratio_vs_raw_loop"] == pytest.approx(i["tinynets"] / i["raw"], rel=1e-2)
    assert m["worker_peak_rss_mb"] > 0  # (a) ran with its two DataLoader workers
    assert all(v > 0 for v in m["peak_mem_mb"].values()) and m["device"].startswith("cpu")
    assert set(m["options"]) == {"default", "channels_last=false", "bf16-mixed", "nn.Dropout",
                              "bf16-mixed, nn.BatchNorm2d"}  # quick: no compile
    assert all(o["img_per_s"] > 0 for o in m["options"].values()) and m["options"]["default"]["vs_default"] == 1
    readme = (tmp_path / "README.md").read_text()
    assert "QUICK MODE" in readme and "| `deep_narrow` | 12,088 |" in readme and "No GPU was measured" in readme
    assert f"## {key}" in readme and "## History" in readme and "at fp32, b/c >= 0.95" in readme
    assert "b/a >= 2" not in readme and "n/a (quick)" in readme  # b/a is no goal; quick mode is not judged
    assert render(results) == readme  # the README is generated from results.json alone
    # the code that ran: the full commit and whether the tree was clean, in the section and its history row
    assert re.fullmatch(r"[0-9a-f]{40}", res["code"]["commit"]) and isinstance(res["code"]["dirty"], bool)
    assert results["history"][-1]["code"] == res["code"] and f"commit `{res['code']['commit']}`" in readme


FAKE_TRAIN = """
import json, sys, time
run_dir = sys.argv[-1].split("=", 1)[1]
history = []
for epoch, acc in ((1, 99.12), (2, 99.43), (3, 99.51)):
    time.sleep(0.3)
    print(f"[Epoch {epoch}] loss=0.1000 | val loss=0.0200 acc={int(acc * 100)}/10000 ({acc:.2f}%) on test | 0.3s")
    history.append({"epoch": epoch, "val_acc": acc - 1e-6, "seconds": 0.304})  # float32-ish, as recorded
history.append({"epoch": 4, "val_acc": 99.6, "seconds": 0.3})  # recorded, its line never printed: no time
import pathlib
pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)
pathlib.Path(run_dir, "metrics.json").write_text(json.dumps(
    {"first_step_s": 0.05, "best_val_acc": 99.51, "test_acc": 99.51, "device": "cpu: x", "params": 1, "model": "m",
     "history": history}))
"""


def test_timed_run_times_each_epoch_line_as_printed(tmp_path):
    """The clock stops when the epoch line at the target is printed, not when the run ends; each
    epoch's accuracy and seconds come from the run's records (metrics.json `history`)."""
    from tinynets.bench.fast import timed_run
    from tinynets.bench.render import render_fast

    r = timed_run(["seed=0"], tmp_path / "run", target=99.4, script=["-c", FAKE_TRAIN])
    assert [(e["epoch"], e["acc"], e["epoch_s"]) for e in r["epochs"]] == [(1, 99.12, 0.3), (2, 99.43, 0.3),
                                                                           (3, 99.51, 0.3)]
    assert r["target_epoch"] == 2
    assert 0.5 < r["time_to_target_s"] < r["epochs"][2]["at_s"] <= r["wall_s"]
    assert r["first_step_s"] == 0.05 and r["test_acc"] == 99.51
    text = "\n".join(render_fast({"target_acc": 99.4, "train_command": "python train.py x", "command": "c",
                                  "date": "d", "runs": {"0": r}, "max_time_to_target_s": r["time_to_target_s"],
                                  "median_time_to_target_s": r["time_to_target_s"]}))
    assert "| 0 | 0.1 s | 2 |" in text and "All seeds reached 99.4%" in text
    with pytest.raises(RuntimeError, match="exited 3"):
        timed_run([], tmp_path / "bad", target=None, script=["-c", "import sys; print('boom'); sys.exit(3)"])


@pytest.mark.slow
def test_fast_quick_measures_a_writeup_epoch_and_the_time_ratio(tmp_path):
    """`bench fast` trains experiment=fast (the default) and, in the same invocation, measures one
    epoch of pipeline (a) for deep_narrow as the throughput bench does; the ratio is the slowest
    seed's time to target over it."""
    from tinynets.bench.__main__ import main
    from tinynets.bench.fast import with_time_ratio

    assert main(["fast", "--quick", "--seeds", "0", "--out", str(tmp_path)]) == 0
    f = next(iter(json.loads((tmp_path / "results.json").read_text())["machines"].values()))["fast"]
    assert f["quick"] and f["train_command"].startswith("python train.py experiment=fast ")
    w = f["writeup"]
    assert w["model"] == "deep_narrow" and w["pipeline"] == "seed" and w["epoch_images"] == 512  # the synthetic split
    assert f["writeup_epoch_s"] == pytest.approx(512 / w["img_per_s"], rel=1e-2)
    assert f["repeats"] == 1 and f["runs"]["0"]["per_repeat"][0]["epochs"] and "code" in f  # quick: one repeat
    assert "`fast.writeup_epoch_s`" in (tmp_path / "README.md").read_text()
    res = with_time_ratio({"max_time_to_target_s": 30.0}, {"epoch_s": 40.0})
    assert res["writeup_epoch_s"] == 40.0 and res["time_to_target_vs_writeup_epoch"] == 0.75
    assert with_time_ratio({"max_time_to_target_s": None}, {"epoch_s": 40.0})["time_to_target_vs_writeup_epoch"] is None


def test_results_keep_the_newest_per_machine_and_a_history_of_every_invocation(tmp_path):
    """A flat results.json (one machine) is read per machine, without losing a key; a bench
    command on another machine adds that machine beside it and a history row; the README has a
    section per machine and the history table."""
    from tinynets.bench.render import render_history, render_machine
    from tinynets.bench.store import load_results, save

    dev = "cpu: Intel(R) Xeon(R) Processor, 2 cores, torch 2 threads"
    fast = {"command": "python -m tinynets.bench fast", "train_command": "python train.py experiment=fast seed=N",
            "label": "fast", "date": "2026-11-22 04:24", "git": "a", "target_acc": 99.4,
            "load": {"before": {"loadavg": [1, 2, 3]}}, "runs": {"0": {"time_to_target_s": 180.2, "device": "cpu: x86_64"}}}
    old = {"command": "python -m tinynets.bench", "date": "2026-11-22 06:54", "git": "b", "setup": {"steps": 100},
           "models": {"deep_narrow": {"device": dev, "speedup_vs_seed_pipeline": 1.797, "ratio_vs_raw_loop": 1.027}},
           "fast": fast, "startup": {"date": "2026-11-22 05:02", "first_step_median_s": 8.6}}
    (tmp_path / "results.json").write_text(json.dumps(old))
    res = load_results(tmp_path)
    (key, entry), = res["machines"].items()
    assert key == "Intel(R) Xeon(R) Processor" and entry["machine"] == {"cpu": key, "cores": 2, "gpu": None}
    assert entry["throughput"]["models"] == old["models"] and entry["throughput"]["setup"] == {"steps": 100}
    assert {k: v for k, v in entry["fast"].items() if k != "machine"} == fast and entry["startup"]["first_step_median_s"] == 8.6
    assert [(r["section"], r["date"]) for r in res["history"]] == [
        ("fast", "2026-11-22 04:24"), ("startup", "2026-11-22 05:02"), ("throughput", "2026-11-22 06:54")]
    assert res["history"][2]["b/a"] == {"deep_narrow": 1.797} and res["history"][0]["time_to_target_s"] == {"0": 180.2}

    other = {**fast, "date": "2026-12-01 10:00", "git": "c", "machine": {"cpu": "AMD EPYC", "cores": 2, "gpu": None},
             "runs": {"0": {"time_to_target_s": 70.0, "epochs": [{"acc": 99.41, "epoch_s": 30.0}], "target_epoch": 2,
                            "first_step_s": 5.0, "test_acc": 99.41, "wall_s": 72.0, "device": "cpu: AMD EPYC"}},
             "writeup_epoch_s": 39.4, "time_to_target_vs_writeup_epoch": 1.78}
    results, _ = save(tmp_path, "fast", other)
    assert set(results["machines"]) == {"Intel(R) Xeon(R) Processor", "AMD EPYC"}
    assert results["machines"]["Intel(R) Xeon(R) Processor"]["fast"]["runs"]["0"]["time_to_target_s"] == 180.2
    assert len(results["history"]) == 4 and results["history"][-1]["time_to_target_vs_writeup_epoch"] == 1.78
    text = "\n".join(render_history(results["history"]))
    assert "| 2026-12-01 10:00 | AMD EPYC |" in text and "| 1.780 |" in text and "deep_narrow 1.80x" in text
    assert "## AMD EPYC" in "\n".join(render_machine("AMD EPYC", results["machines"]["AMD EPYC"]))


@pytest.mark.slow
def test_sweeps_quick_times_the_basic_launcher_against_joblib_at_one_thread_per_job(tmp_path):
    from tinynets.bench.__main__ import main

    assert main(["sweeps", "--quick", "--out", str(tmp_path)]) == 0
    s = next(iter(json.loads((tmp_path / "results.json").read_text())["machines"].values()))["sweeps"]
    basic, joblib = s["launchers"]["basic"], s["launchers"]["joblib"]
    assert s["quick"] and s["train_command"] == "python train.py -m lr=0.05,0.1 trainer.max_epochs=1"
    assert basic["jobs_ok"] == joblib["jobs_ok"] == 2 and basic["epochs"] == joblib["epochs"] == 2
    assert joblib["launcher_overrides"] == ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    assert joblib["torch_threads"] == [1]  # each joblib job ran on one torch thread (its metrics.json says so)
    assert s["faster"] == ("joblib" if joblib["wall_s"] < basic["wall_s"] else "basic")  # the one that took less
    assert s["joblib_vs_basic"] == pytest.approx(basic["wall_s"] / joblib["wall_s"], rel=1e-2)
    readme = (tmp_path / "README.md").read_text()
    assert "### Sweeps on CPU" in readme and f"Faster: **{s['faster']}**" in readme


@pytest.mark.parametrize(("walls", "faster"), [({"basic": 30.0, "joblib": 20.0}, "joblib"),
                                                ({"basic": 20.0, "joblib": 30.0}, "basic")])
def test_sweeps_names_the_launcher_that_took_less(tmp_path, monkeypatch, walls, faster):
    """`faster` is the launcher whose sweep took less wall time, whichever it is (the quick run above
    cannot choose which one wins; here each wins once), and the README says so."""
    import tinynets.bench.sweeps as bench_sweeps
    from tinynets.bench.render import render_sweeps

    def timed(overrides, sweep_dir, env=None, script=("train.py",), expect_jobs=None):
        return {"train_command": "python train.py -m " + " ".join(overrides), "env": env or {},
                "wall_s": walls[sweep_dir.name], "jobs": expect_jobs, "jobs_ok": expect_jobs, "epochs": 2,
                "epochs_s": 1.0, "devices": ["cpu: x (1 threads)"], "torch_threads": [1]}

    monkeypatch.setattr(bench_sweeps, "timed_sweep", timed)
    import tinynets.bench.clock as clock

    monkeypatch.setattr(bench_sweeps, "load_conditions", lambda: {})
    monkeypatch.setattr(clock, "load_conditions", lambda *a, **k: {})  # the record header's
    res = bench_sweeps.sweeps([], (0.1, 0.2), tmp_path)
    assert {k: v["wall_s"] for k, v in res["launchers"].items()} == walls
    assert res["faster"] == faster and res["joblib_vs_basic"] == round(walls["basic"] / walls["joblib"], 3)
    assert f"Faster: **{faster}**; basic / joblib = {walls['basic'] / walls['joblib']:.2f}" in "\n".join(
        render_sweeps(res))


@pytest.mark.slow
def test_gpu_bench_path_runs_on_cpu_in_quick_mode(tmp_path, monkeypatch):
    """`bench gpu` without a CUDA device stops in one line (exit 2); `--device cpu --quick` runs its
    whole path (the long run, the sheet sweep, the sweep sequential and shared) and writes gpu.json."""
    import tinynets.bench.__main__ as cli

    monkeypatch.setattr(cli, "no_gpu", lambda: "none here")
    assert cli.main(["gpu", "--out", str(tmp_path)]) == 2 and not (tmp_path / "gpu.json").exists()
    assert cli.main(["gpu", "--device", "cpu", "--quick", "--out", str(tmp_path)]) == 0
    (g,) = json.loads((tmp_path / "gpu.json").read_text())["machines"].values()
    assert g["quick"] and g["train_images"] == 512 and g["deep_narrow"]["epochs"] and g["deep_narrow"]["img_per_s"] > 0
    assert g["sheet_sweep"]["train_command"] == "python train.py -m experiment=backprop_sheet lr=0.1,0.2"
    assert g["sheet_sweep"]["jobs"] == 2 and g["sheet_sweep_s"] > 0
    seq, shared = g["sweep"]["sequential"], g["sweep"]["shared"]
    assert seq["jobs_ok"] == shared["jobs_ok"] == 2 and "hydra/launcher=joblib" in shared["train_command"]
    assert g["shared_vs_sequential"] == pytest.approx(seq["wall_s"] / shared["wall_s"], rel=1e-2)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["history"][-1]["section"] == "gpu" and results["machines"] == {}
    readme = (tmp_path / "README.md").read_text()
    assert "## GPU" in readme and "No GPU was measured" not in readme and "n/a (quick)" in readme
