"""A seed-robust search by two workers on PostgreSQL (`hydra.sweeper.seeds`), as a user runs it: each
trial is the mean of its seeds' final holdout accuracy, every seed in its own job dir, any worker
taking any seed; a worker killed in the middle of a seed loses nothing (the seed is trained again,
resumed in its dir, and the study ends with exactly n_trials trials, each with all its seeds)."""

from __future__ import annotations

import json
import statistics
import uuid
from pathlib import Path

import pytest

from tests.helpers.cluster import postgres_url
from tests.search.test_workers import kill_one_mid_trial, load_study, search_args, worker

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

SEEDS = [1, 2, 3]


def test_two_workers_score_each_trial_over_its_seeds_and_lose_none_when_one_is_killed(tmp_path, tiny_mnist):
    url, name = postgres_url(), f"seeds_{uuid.uuid4().hex[:8]}"
    sweep, beacon = tmp_path / "sweep", tmp_path / "beacon"
    args = search_args(tiny_mnist, sweep, 2, "trainer.max_epochs=2", "hydra.sweeper.seeds=[1,2,3]",
                       "~hydra.sweeper.objectives.best_val_acc", "+hydra.sweeper.objectives.final_val_acc=maximize",
                       f"+callbacks.beacon={{_target_: tests.helpers.throttle.Beacon, path: {beacon}, sleep: 0.3}}",
                       "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}", f"hydra.sweeper.study_name={name}")
    procs = {w: worker(args, tmp_path / f"{w}.log", TINYNETS_STORAGE=url) for w in "ab"}
    killed = kill_one_mid_trial(procs, beacon)
    survivor = "b" if killed == "a" else "a"
    assert procs[survivor].wait(timeout=600) == 0, (tmp_path / f"{survivor}.log").read_text()[-3000:]
    log = (tmp_path / f"{survivor}.log").read_text()
    assert "Traceback" not in log

    study = load_study(url, name)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2 and all(t.state.name in ("COMPLETE", "FAIL") for t in study.trials)
    acc, size = study.metric_names.index("final_val_acc"), study.metric_names.index("params")
    for t in done:
        assert t.user_attrs["seeds"] == SEEDS
        dirs = {s: t.user_attrs[f"seed={s}"]["job_dir"] for s in SEEDS}  # a retry's inherited seeds ran in the first's
        runs = {s: json.loads((Path(d) / "metrics.json").read_text()) for s, d in dirs.items()}
        assert {s: r["seed"] for s, r in runs.items()} == {s: s for s in SEEDS}  # each seed is its own run
        finals = [runs[s]["final_val_acc"] for s in SEEDS]
        assert finals == [runs[s]["val_acc"][-1] for s in SEEDS]  # the final weights' holdout accuracy
        assert t.values[acc] == pytest.approx(statistics.fmean(finals)) and t.values[size] == runs[1]["params"]
        assert {s: v[acc] for s, v in t.user_attrs["seed_values"].items()} == {str(s): runs[s]["final_val_acc"]
                                                                                for s in SEEDS}
        assert t.user_attrs["seed_min"][acc] == min(finals)
        assert t.user_attrs["seed_spread"][acc] == pytest.approx(statistics.stdev(finals))
    # the killed worker's seed was trained again: in its own dir, which every seed of every trial has
    assert sum(1 for p in sweep.glob("trial=*/seed=*/metrics.json")) >= 2 * len(SEEDS)
    front = (sweep / "pareto.md").read_text()
    assert "final_val_acc_spread" in front and "Each trial is scored over its seeds" in front
    seeds_board = (sweep / "leaderboard_seeds.csv").read_text()
    assert "1 2 3" in seeds_board  # the leaderboard's seed groups: each trial's three seeds, mean and std
