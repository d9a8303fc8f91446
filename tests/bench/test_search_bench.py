"""`python -m tinynets.bench search` (make bench-search): the quick run's record and README section,
and the idle worker-seconds it reports, on spans whose answer is known."""

from __future__ import annotations

import json
import os

import pytest


def test_idle_seconds_count_a_batch_barrier_and_nothing_else():
    from tinynets.bench.search import idle_seconds

    # batched: a long and a short trial, then two short ones once both ended (the short one's slot waited 8 s)
    batched = {"a": [(0, 10), (10, 12)], "b": [(0, 2), (10, 12)]}
    assert idle_seconds(batched, 2) == pytest.approx(2 * 12 - (10 + 2 + 2 + 2))
    # asynchronous: the short trials' slot went on at once; both slots were busy until the end
    assert idle_seconds({"a": [(0, 10)], "b": [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]}, 2) == 0
    assert idle_seconds({"a": [(0, 5)]}, 2) == pytest.approx(5)  # a slot that never got a trial
    assert idle_seconds({}, 2) == 0


@pytest.mark.slow
def test_search_bench_quick_runs_every_mode_on_the_same_trials(tmp_path):
    from tinynets.bench.__main__ import main

    assert main(["search", "--quick", "--out", str(tmp_path)]) == 0
    s = next(iter(json.loads((tmp_path / "results.json").read_text())["machines"].values()))["search"]
    assert s["quick"] and s["n_trials"] == 2 and s["repeats"] == 1
    assert set(s["modes"]) == {"batched, 2 jobs", "async, 1 worker", "async, 2 workers"}
    for name, m in s["modes"].items():
        (run,) = m["runs"]
        assert m["trials"] == [2] and run["trials"] == 2, name  # each mode ran the grid's 2 trials
        assert run["trials_per_hour"] == pytest.approx(2 / run["wall_s"] * 3600, rel=1e-2)
        assert 0 <= run["idle_worker_s"] and 0 < run["in_trials_s"] < m["slots"] * run["wall_s"]
    assert s["modes"]["batched, 2 jobs"]["torch_threads"] == [1]
    assert s["modes"]["async, 2 workers"]["torch_threads"] == [max(1, os.cpu_count() // 2)]  # a worker's share
    tph = {k: v["trials_per_hour"]["median"] for k, v in s["modes"].items()}
    assert s["async2_vs_batched2"] == pytest.approx(tph["async, 2 workers"] / tph["batched, 2 jobs"], rel=1e-2)
    readme = (tmp_path / "README.md").read_text()
    assert "### Search on CPU: batched trials against asynchronous workers" in readme
    assert f"async 2 workers / batched 2 jobs: **{s['async2_vs_batched2']:.2f}**" in readme


@pytest.mark.postgresql
@pytest.mark.slow
def test_search_workers_quick_runs_ours_and_optunas_loop_on_the_live_postgresql(tmp_path, monkeypatch):
    """`python -m tinynets.bench search-workers --quick`: 1 and 2 processes, ours hits the budget exactly,
    every figure of the table is there, and the URL is recorded without its password."""
    from tests.helpers.cluster import URL_FILE, postgres_url
    from tinynets.bench.__main__ import main

    url = postgres_url()
    monkeypatch.setenv("TINYNETS_STORAGE_FILE", str(URL_FILE))
    assert main(["search-workers", "--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.json").read_text()
    from sqlalchemy.engine import make_url

    assert make_url(url).password not in text
    s = next(iter(json.loads(text)["machines"].values()))["search_workers"]
    assert s["quick"] and list(s["by_count"]) == ["1", "2"]
    for n, r in s["by_count"].items():
        o, a = r["ours"], r["optuna"]
        assert o["finished"] == o["trials"] == r["budget"] == 8 and o["distinct_numbers"] == 8
        assert a["finished"] >= r["budget"] and o["trials_per_s"] > 0 and a["trials_per_s"] > 0
        assert o["lock_wait_ms"]["asks"] >= 8 and 0 < o["connections_per_worker_max"] <= 2
        assert o["statements_per_trial"] > 0
    assert "### One study, 1 to 32 processes: our workers against Optuna's loop" in (tmp_path / "README.md").read_text()
