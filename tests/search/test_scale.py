"""Thirty-two search workers on one study in the live PostgreSQL, with trials that train nothing
(hparams_search=instant: task=instant), so that 2 cores can host them: `python -m tinynets.search.workers 32` finishes exactly
n_trials trials, no trial number runs twice, no configuration is asked twice (TPE with constant_liar,
the default), and no worker holds more connections than docs/scale-out.md says (storage.POOL's 2, and
for a moment at start-up one more: the lock under which it opens the study). Skipped with the reason
where scripts/local-cluster's PostgreSQL is not running."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest

from tests.helpers import ROOT, cli_env
from tests.helpers.cluster import postgres_url
from tests.search.test_workers import load_study

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
WORKERS, N_TRIALS = 32, 64  # 33 processes start on 2 cores: most of the minute
PER_WORKER = 3  # storage.POOL (2), and the study lock's own connection while a worker opens the study


def connections(url: str, stop: threading.Event, seen: list[Counter]) -> None:
    """Every 0.2 s, the server's connections per worker (application_name `tinynets <pid>`)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            while not stop.wait(0.2):
                rows = conn.execute(text("SELECT application_name FROM pg_stat_activity "
                                         "WHERE application_name LIKE 'tinynets %'")).all()
                seen.append(Counter(r[0] for r in rows))
                conn.commit()
    finally:
        engine.dispose()


def test_thirty_two_workers_finish_the_budget_exactly(tmp_path):
    from optuna.trial import TrialState

    from tinynets.search.storage import POOL

    url = postgres_url()
    name = f"scale_{uuid.uuid4().hex[:8]}"
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "tinynets.search.workers", str(WORKERS), "hparams_search=instant",
           f"hydra.sweep.dir={sweep}", "~hydra.callbacks.leaderboard",
           "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}", f"hydra.sweeper.study_name={name}",
           f"hydra.sweeper.n_trials={N_TRIALS}"]
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=connections, args=(url, stop, seen), daemon=True)
    watcher.start()
    t0 = time.time()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=cli_env(TINYNETS_STORAGE=url, OMP_NUM_THREADS="1"),
                              capture_output=True, text=True, timeout=600)
    finally:
        stop.set()
        watcher.join(timeout=10)
    wall = time.time() - t0
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert all(f"[worker {i}] exit 0" in done.stdout for i in range(WORKERS))
    assert "Traceback" not in done.stdout + done.stderr and "Warning" not in done.stdout + done.stderr

    study = load_study(url, name)
    assert len(study.trials) == N_TRIALS and all(t.state == TrialState.COMPLETE for t in study.trials)
    configurations = [json.dumps(t.params, sort_keys=True) for t in study.trials]
    assert len(set(configurations)) == N_TRIALS  # no configuration asked twice
    records = [json.loads(p.read_text()) for p in (sweep / "workers").glob("*.json")]
    ran = [n for r in records for n in r["trials"]]
    assert sorted(ran) == list(range(N_TRIALS))  # every trial number run once, by one worker
    assert len(records) == WORKERS  # one per worker (the check before them leaves none)
    assert max(r["peak_connections"] for r in records) <= PER_WORKER
    assert sum(POOL.values()) + 1 == PER_WORKER
    busiest = max((max(c.values()) for c in seen if c), default=0)
    assert seen and 0 < busiest <= PER_WORKER, seen[-3:]
    print(f"{WORKERS} workers, {N_TRIALS} trials in {wall:.1f} s; at most {busiest} connections per worker, "
          f"{max(sum(c.values()) for c in seen)} in all")
