"""`python -m tinynets.search.cost`: CPU-hours to the first trial whose seeds all pass, on records
whose times are known."""

from __future__ import annotations

import json
import os

import pytest

from tinynets.search.cost import cost, main

T0 = 1_800_000_000.0


def job(root, trial, seed, value, start_h, end_h, threads=1, status="ok", cpu_h=None):
    d = root / f"trial={trial}" / f"seed={seed}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "status": status, "seed": seed, "final_val_acc": value, "wall_s": (end_h - start_h) * 3600,
        "device": f"cpu: x ({threads} threads)", "overrides": ["lr=0.1", f"++optuna_trial={trial}", f"seed={seed}"],
        **({"cpu_s": cpu_h * 3600} if cpu_h is not None else {})}))
    os.utime(d / "metrics.json", (T0 + end_h * 3600, T0 + end_h * 3600))


def test_cpu_hours_to_the_first_trial_whose_seeds_all_pass(tmp_path, capsys):
    # two workers, one thread each (CPU-seconds: wall x threads where the record has no cpu_s): trial 0's seeds 1-2 (one below target), its seed 3 with trial 1's seed 1,
    # trial 1's seeds 2-3 (all pass: the first at hour 3), and trial 2 on 2 threads, half done by then
    job(tmp_path, 0, 1, 99.45, 0, 1)
    job(tmp_path, 0, 2, 99.30, 0, 1, cpu_h=0.5)  # its process's CPU, recorded: paused half its hour
    job(tmp_path, 0, 3, 99.50, 1, 2)
    job(tmp_path, 1, 1, 99.41, 1, 2)
    job(tmp_path, 1, 2, 99.44, 2, 3)
    job(tmp_path, 1, 3, 99.40, 2, 3)
    job(tmp_path, 2, 1, 98.00, 2, 4, threads=2, status="pruned")  # 2 threads x 1 h before hour 3
    res = cost(tmp_path, seeds=3, target=99.4)
    assert res["jobs"] == 7 and res["trials"] == 3
    assert res["first_pass"] == {"trial": 1, "cpu_hours": pytest.approx(5.5 + 2), "wall_hours": 3.0, "jobs_before": 6}
    assert res["cpu_hours"] == pytest.approx(5.5 + 4) and res["wall_hours"] == 4.0
    # a trial with fewer ok seeds than asked does not pass, however good they are
    assert cost(tmp_path, seeds=4, target=99.4)["first_pass"] is None
    assert main([str(tmp_path), "--json", str(tmp_path / "cost.json")]) == 0
    out = capsys.readouterr().out
    assert "7 jobs of 3 trials: 9.50 CPU-hours over 4.00 h" in out
    assert "trial 1, after 7.50 CPU-hours (3.00 h, 6 jobs)" in out
    assert json.loads((tmp_path / "cost.json").read_text())["first_pass"]["trial"] == 1


def test_a_missing_sweep_dir_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "nope")])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1
