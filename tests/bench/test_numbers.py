"""tinynets.bench on synthetic numbers (no timing asserted): the repeats' medians and spreads, the
ratios pair by pair, the refusals (fewer repeats, a dirty tree), the code version, the goals judged
from GOALS, the fast section's medians."""

from __future__ import annotations

import json
import subprocess

import pytest

CLEAN = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}


def test_spread_is_median_min_max_and_a_ratio_pairs_each_repeat():
    """The statistic of repeats: median, min, max. A ratio between pipelines is taken within each
    repeat, then its median: here 1.5, where the ratio of the medians would say 12 / 10 = 1.2."""
    from tinynets.bench.clock import pairwise, spread

    assert spread([3.0, 1.0, 2.0, 10.0, 4.0]) == {"median": 3.0, "min": 1.0, "max": 10.0, "n": 5}
    assert spread([4.0, 1.0]) == {"median": 2.5, "min": 1.0, "max": 4.0, "n": 2}
    r = pairwise([10.0, 12.0, 30.0], [10.0, 6.0, 20.0])
    assert r["per_repeat"] == [1.0, 2.0, 1.5] and (r["median"], r["min"], r["max"], r["n"]) == (1.5, 1.0, 2.0, 3)
    with pytest.raises(ValueError, match="pairs one of each"):
        pairwise([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        spread([])


def _m(pipeline: str, img_per_s: float):
    from tinynets.bench.clock import Measurement

    return Measurement(pipeline, seconds=100 * 128 / img_per_s, steps=100, batch_size=128, first_step_s=1.0,
                       peak_rss_mb=100.0, worker_peak_rss_mb=50.0 if pipeline == "seed" else 0.0)


def test_throughput_summary_takes_each_ratio_within_a_repeat():
    """Five repeats whose speed drifts (repeat 3 is slow for all): each pipeline's median and spread,
    b/a, b/c and the ceiling c/a pair by pair within each repeat, then their median and spread."""
    from tinynets.bench.throughput import rotation, summarize

    a = [2000.0, 2100.0, 1000.0, 2200.0, 1900.0]
    b = [4000.0, 4410.0, 1900.0, 3960.0, 4180.0]  # b/a per repeat: 2.0, 2.1, 1.9, 1.8, 2.2
    c = [4200.0, 4200.0, 2000.0, 4400.0, 4000.0]  # b/c: 0.952.., 1.05, 0.95, 0.9, 1.045
    runs = {"seed": [_m("seed", v) for v in a], "tinynets": [_m("tinynets", v) for v in b],
            "raw": [_m("raw", v) for v in c]}
    s = summarize(runs)
    assert s["repeats"] == 5 and s["img_per_s"] == {"seed": 2000.0, "tinynets": 4000.0, "raw": 4200.0}
    assert s["img_per_s_spread"]["seed"] == {"median": 2000.0, "min": 1000.0, "max": 2200.0, "n": 5}
    assert s["ratios"]["b/a"]["per_repeat"] == [2.0, 2.1, 1.9, 1.8, 2.2]
    assert (s["ratios"]["b/a"]["min"], s["ratios"]["b/a"]["max"]) == (1.8, 2.2)
    assert s["speedup_vs_seed_pipeline"] == 2.0
    assert s["ratio_vs_raw_loop"] == pytest.approx(sorted(x / y for x, y in zip(b, c))[2], abs=1e-3)  # 0.9524
    assert s["ceiling_vs_seed_pipeline"] == round(sorted(y / x for x, y in zip(a, c))[2], 3)  # 2.0
    assert s["ratios"]["c/a"]["per_repeat"][2] == 2.0 and s["peak_mem_mb"]["seed"] == 150.0
    # a ratio of medians would differ where the repeats disagree: b/c's per-repeat median is not 4000 / 4200
    odd = summarize({"seed": [_m("seed", 1000.0)] * 3, "tinynets": [_m("tinynets", v) for v in (10.0, 12.0, 30.0)],
                     "raw": [_m("raw", v) for v in (10.0, 6.0, 20.0)]})
    assert odd["ratio_vs_raw_loop"] == 1.5
    assert [rotation("abc", r) for r in range(4)] == [list("abc"), list("bca"), list("cab"), list("abc")]


def test_throughput_and_fast_refuse_too_few_repeats(tmp_path, capsys, monkeypatch):
    """Fewer than 5 repeats (throughput) or 3 (fast) stop before measuring, in one line naming the
    flag, exit 2, nothing written."""
    import tinynets.bench.__main__ as cli
    from tinynets.bench.throughput import Settings, throughput

    monkeypatch.setattr(cli, "code_state", lambda: dict(CLEAN))
    monkeypatch.setattr(cli, "throughput", lambda *a, **k: pytest.fail("measured despite too few repeats"))
    monkeypatch.setattr(cli, "fast", lambda *a, **k: pytest.fail("measured despite too few repeats"))
    assert cli.main(["--repeats", "4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--repeats 4" in err and "--repeats 5 or more" in err
    assert cli.main(["fast", "--repeats", "2", "--out", str(tmp_path)]) == 2
    assert "--repeats 3 or more" in capsys.readouterr().err and not (tmp_path / "results.json").exists()
    settings = Settings(models=["deep_narrow"], batch_size=8, rotation=0, warmup=1, steps=1, repeats=4, data_dir=".")
    with pytest.raises(ValueError, match="at least 5"):
        throughput(settings)


FAKE_SECTION = {"command": "python -m tinynets.bench", "date": "2026-12-02 10:00", "quick": False,
                "setup": {"batch_size": 128, "rotation_deg": 7.0, "warmup_steps": 20, "steps": 200, "repeats": 5,
                          "statistic": "s"},
                "models": {}}


def test_a_dirty_tree_is_refused_unless_allowed_and_then_not_recorded(tmp_path, capsys, monkeypatch):
    """From a dirty tree the bench stops before measuring (one line, exit 2); --allow-dirty measures
    and prints, writing nothing; from a clean tree the section and its history row store the full
    commit and dirty=false; a bench whose code changed while it ran is not recorded."""
    import tinynets.bench.__main__ as cli

    calls = []

    def fake_throughput(settings, quick=False, argv=None):
        calls.append(settings.repeats)
        return {**FAKE_SECTION, "models": {"deep_narrow": _model(0.96)}, "code": cli.code_state()}

    monkeypatch.setattr(cli, "throughput", fake_throughput)
    states = iter([{**CLEAN, "dirty": True}])
    monkeypatch.setattr(cli, "code_state", lambda: next(states))
    assert cli.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: the working tree has uncommitted changes (HEAD 0123456789); commit first or pass "
                   "--allow-dirty to measure without recording")
    assert calls == [] and not (tmp_path / "results.json").exists()

    monkeypatch.setattr(cli, "code_state", lambda: {**CLEAN, "dirty": True})
    assert cli.main(["--allow-dirty", "--out", str(tmp_path)]) == 0 and calls == [5]
    assert "measured, not recorded" in capsys.readouterr().out
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "README.md").exists()

    monkeypatch.setattr(cli, "code_state", lambda: {"commit": None, "dirty": None})
    assert cli.main(["--out", str(tmp_path)]) == 2 and "not a git checkout" in capsys.readouterr().err

    monkeypatch.setattr(cli, "code_state", lambda: dict(CLEAN))
    assert cli.main(["--require-clean", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (entry,) = results["machines"].values()
    assert entry["throughput"]["code"] == CLEAN and results["history"][-1]["code"] == CLEAN
    readme = (tmp_path / "README.md").read_text()
    assert f"commit `{CLEAN['commit']}`, clean tree" in readme and "`0123456789`" in readme

    states = iter([dict(CLEAN), {**CLEAN, "dirty": True}])  # edited while it ran
    monkeypatch.setattr(cli, "code_state", lambda: next(states))
    assert cli.main(["--out", str(tmp_path)]) == 2 and "changed while the bench ran" in capsys.readouterr().err
    assert len(json.loads((tmp_path / "results.json").read_text())["history"]) == 1  # not recorded


def test_code_version_counts_changes_to_code_and_configs_but_not_results(tmp_path):
    """What a record's `code` says (runs and benches alike): a tracked change under src/, conf/ or to
    train.py makes the tree dirty; an untracked file or a changed result does not; a tinynets that is
    not the checkout's src/tinynets has no commit."""
    from tinynets.run.metrics import code_version

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    package = tmp_path / "src" / "tinynets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text("lr: 0.1\n")
    (tmp_path / "train.py").write_text("print()\n")
    (tmp_path / "results.json").write_text("{}")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert code_version(package) == {"commit": head, "dirty": False}
    (tmp_path / "results.json").write_text('{"a": 1}')
    (tmp_path / "conf" / "new.yaml").write_text("untracked\n")
    assert code_version(package) == {"commit": head, "dirty": False}
    for changed in (tmp_path / "conf" / "train.yaml", tmp_path / "train.py", package / "__init__.py"):
        before = changed.read_text()
        changed.write_text(before + "# edit\n")
        assert code_version(package) == {"commit": head, "dirty": True}, changed
        changed.write_text(before)
    assert code_version(tmp_path / "elsewhere" / "tinynets") == {"commit": None, "dirty": None}


def _model(bc: float, precision: str = "32-true") -> dict:
    return {"params": 1000, "batch_size": 128, "precision": precision, "device": "cpu: x",
            "img_per_s": {"seed": 2000.0, "tinynets": 4000.0, "raw": 4000.0 / bc},
            "img_per_s_spread": {p: {"median": 1.0, "min": 1.0, "max": 2.0, "n": 5} for p in ("seed", "tinynets", "raw")},
            "ratios": {"b/a": {"median": 2.0, "min": 1.9, "max": 2.1, "n": 5},
                       "b/c": {"median": bc, "min": bc - 0.01, "max": bc + 0.01, "n": 5},
                       "c/a": {"median": 2.05, "min": 2.0, "max": 2.1, "n": 5}},
            "speedup_vs_seed_pipeline": 2.0, "ratio_vs_raw_loop": bc, "ceiling_vs_seed_pipeline": 2.05,
            "lightning_overhead_ms_per_step": 0.5, "peak_mem_mb": {"seed": 1, "tinynets": 1, "raw": 1},
            "repeats_img_per_s": {"seed": [1.0]}}


def test_throughput_goals_are_judged_from_GOALS_and_old_sections_are_not(monkeypatch):
    """b/c >= GOALS['b/c'] at fp32, per model and for all; b/a against its ceiling, no goal; a
    bf16 model and quick mode are n/a; a section measured before issue 25 (no pairwise ratios) is
    shown, not judged, with its commit unknown."""
    import tinynets.bench.tables as render

    sec = {**FAKE_SECTION, "code": {**CLEAN, "dirty": True},
           "models": {"deep_narrow": _model(0.96), "gap_fc": _model(0.94), "bf": _model(0.5, "bf16-mixed")}}
    text = "\n".join(render.render_throughput(sec))
    row = {n: next(x for x in text.splitlines() if x.startswith(f"| `{n}`")) for n in sec["models"]}
    assert "| met |" in row["deep_narrow"] and "| **not met** |" in row["gap_fc"]
    assert "n/a (bf16-mixed: the goal is at fp32)" in row["bf"]
    assert "**2.00x** (1.90-2.10) of a 2.05x (2.00-2.10) ceiling" in row["deep_narrow"]
    assert "**0.960** (0.950-0.970)" in row["deep_narrow"]
    assert "Goal: b/c >= 0.95 for every model at fp32: **not met** (`deep_narrow` 0.960 met, `gap_fc` 0.940 not met" in text
    assert "dirty tree: uncommitted changes, not a result of record" in text
    monkeypatch.setitem(render.GOALS, "b/c", 0.93)  # the goal lives in GOALS alone
    assert "Goal: b/c >= 0.93 for every model at fp32: **met**" in "\n".join(render.render_throughput(sec))
    monkeypatch.setitem(render.GOALS, "b/c", 0.95)
    assert "**not met**" not in "\n".join(render.render_throughput({**sec, "quick": True}))

    old = {k: v for k, v in sec.items() if k != "code"} | {"git": "4043d99+dirty"}
    old["models"] = {"deep_narrow": {k: v for k, v in _model(0.94).items()
                                     if k not in ("ratios", "ceiling_vs_seed_pipeline", "img_per_s_spread")}}
    text = "\n".join(render.render_throughput(old))
    assert "not met" not in text and "**not judged**" in text and "| met |" not in text
    assert "commit unknown (recorded before full commits: `4043d99+dirty`, **dirty tree" in text
    assert "of a 2.13x ceiling" in text  # old: c/a from the medians, 4255 / 2000
    assert "commit unknown |" not in text and render.render_code({}) == "commit unknown"


def test_fast_interleaves_the_writeup_epoch_with_the_seeds_and_takes_medians(monkeypatch):
    """Each repeat measures the write-up epoch and runs every seed, the order rotating; per seed the
    median of its repeats (spread min-max) and each repeat's epoch at the target and accuracy then;
    the ratio is the slowest seed's median over the write-up epoch's median, judged against GOALS."""
    import tinynets.bench.fast as fast_mod
    from tinynets.bench.render import render_fast
    from tinynets.bench.throughput import Settings

    # seed -> its time to target in repeats 0, 1, 2 (None: not reached)
    times = {"0": [20.0, 22.0, 21.0], "1": [25.0, 24.0, 40.0], "2": [18.0, 19.0, 30.0]}
    epochs_s = [30.0, 36.0, 34.0]  # the write-up epoch in repeats 0, 1, 2
    order, count = [], {}

    def fake_run(overrides, run_dir, target):
        seed = overrides[-1].split("=")[1]
        r = count[seed] = count.get(seed, -1) + 1
        order.append(seed)
        t = times[seed][r]
        reached = t is not None
        hist = [{"epoch": 1, "acc": 99.1, "at_s": 10.0, "epoch_s": 5.0},
                {"epoch": 3 + r % 2, "acc": 99.42 + r / 100, "at_s": t or 50.0, "epoch_s": 5.0}]
        return {"overrides": list(overrides), "epochs": hist, "target_epoch": hist[1]["epoch"] if reached else None,
                "time_to_target_s": t, "first_step_s": 4.0 + r, "wall_s": 30.0 + r, "best_val_acc": 99.5,
                "test_acc": 99.45, "device": "cpu: x", "params": 1, "model": "fast"}

    def fake_writeup(settings, model, r, workdir):
        order.append("writeup")
        return {"img_per_s": 60000 / epochs_s[r], "epoch_images": 60000, "epoch_s": epochs_s[r]}

    monkeypatch.setattr(fast_mod, "timed_run", fake_run)
    monkeypatch.setattr(fast_mod, "writeup_measure", fake_writeup)
    import tinynets.bench.clock as clock

    monkeypatch.setattr(fast_mod, "load_conditions", lambda *a, **k: {"loadavg": [0, 0, 0]})
    monkeypatch.setattr(clock, "load_conditions", lambda *a, **k: {"loadavg": [0, 0, 0]})  # the record header's
    monkeypatch.setattr(clock, "code_state", lambda: dict(CLEAN))
    settings = Settings(models=["deep_narrow"], batch_size=128, rotation=7, warmup=20, steps=200, repeats=3,
                        data_dir=".")
    f = fast_mod.fast([0, 1, 2], ["experiment=fast"], "fast", 99.4, [], writeup=settings, repeats=3,
                      runs_root=__import__("pathlib").Path("/nonexistent-bench-runs"))
    assert order == ["writeup", "0", "1", "2", "0", "1", "2", "writeup", "1", "2", "writeup", "0"]
    assert f["order"][1] == ["0", "1", "2", "writeup"] and f["repeats"] == 3
    r0, r1 = f["runs"]["0"], f["runs"]["1"]
    assert r0["time_to_target_s"] == 21.0 and r0["time_to_target_spread"] == {"median": 21.0, "min": 20.0,
                                                                               "max": 22.0, "n": 3}
    assert r1["time_to_target_s"] == 25.0 and f["runs"]["2"]["time_to_target_s"] == 19.0
    assert r0["target_epochs"] == [3, 4, 3] and r0["acc_at_target"] == [99.42, 99.43, 99.44]
    assert r0["target_epoch"] == 4 and r0["first_step_s"] == 5.0 and len(r0["per_repeat"]) == 3
    assert f["slowest_seed"] == "1" and f["max_time_to_target_s"] == 25.0 and f["median_time_to_target_s"] == 21.0
    assert f["writeup_epoch_s"] == 34.0 and f["writeup"]["epoch_s_spread"]["min"] == 30.0
    assert f["time_to_target_vs_writeup_epoch"] == round(25.0 / 34.0, 3)  # 0.735, not max-of-all 40 / 34
    # within each repeat: slowest seed 25, 24, 40 over 30, 36, 34
    assert f["time_ratio_per_repeat"]["per_repeat"] == [round(25 / 30, 3), round(24 / 36, 3), round(40 / 34, 3)]
    text = "\n".join(render_fast(f))
    assert "= **0.735** (goal: <= 0.75: met)" in text and "**21.0 s** (20.0-22.0)" in text
    assert "| 0 | **21.0 s** (20.0-22.0) | 3 (99.42%), 4 (99.43%), 3 (99.44%) |" in text
    assert "**not met**" in "\n".join(render_fast({**f, "time_to_target_vs_writeup_epoch": 0.76}))

    times["2"][1] = None  # seed 2 misses the target in one repeat: no time, no ratio, not met
    order.clear(), count.clear()
    f = fast_mod.fast([0, 1, 2], ["experiment=fast"], "fast", 99.4, [], writeup=settings, repeats=3,
                      runs_root=__import__("pathlib").Path("/nonexistent-bench-runs"))
    assert f["runs"]["2"]["time_to_target_s"] is None and f["runs"]["2"]["reached_repeats"] == 2
    assert not f["all_reached"] and f["time_to_target_vs_writeup_epoch"] is None
    text = "\n".join(render_fast(f))
    assert "not reached in every repeat (2/3)" in text and "not met" in text


def test_every_bench_record_starts_with_the_one_header(monkeypatch):
    """clock.record_header: the command as typed, quick mode only for a bench that has one, the date,
    the code, the load before (given) and after (sampled over the bench's window)."""
    import tinynets.bench.clock as clock

    windows = []
    monkeypatch.setattr(clock, "load_conditions", lambda window_s=2.0: windows.append(window_s) or {"loadavg": [1]})
    monkeypatch.setattr(clock, "code_state", lambda: dict(CLEAN))
    h = clock.record_header(["sweeps", "--quick"], {"loadavg": [0]}, quick=True, window_s=0.5)
    assert list(h) == ["command", "quick", "date", "code", "load"] and windows == [0.5]
    assert h["command"] == "python -m tinynets.bench sweeps --quick" and h["code"] == CLEAN
    assert h["load"] == {"before": {"loadavg": [0]}, "after": {"loadavg": [1]}}
    assert "quick" not in clock.record_header(["fast"], {}) and windows[-1] == 2.0
