"""Search workers on the live PostgreSQL through what a cluster does to them (issue 32): the database
stopped for longer than a heartbeat grace period and started again mid-search (training goes on, every
trial is told when it returns, none is lost or failed); an outage longer than the window (one line,
non-zero exit, and the same command finishes the study); a worker paused (SIGSTOP) past the grace
period, whose trial was failed and retried elsewhere (it stops that trial, records it `superseded` and
goes on). Each ends with exactly n_trials finished lineages, none RUNNING, no traceback in any log, and a
leaderboard that agrees with the study. Trials train a few tiny batches, each slowed a little so that a
fault lands inside one. Skipped with the reason where scripts/local-cluster's PostgreSQL is not running."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.cluster import postgres_url, ready
from tests.search.test_workers import load_study, search_args, worker

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]
BEACON = "+callbacks.beacon={{_target_: tests.helpers.throttle.Beacon, path: {path}, sleep: {sleep}}}"


def database(action: str) -> None:
    """pg_ctlcluster stop|start on the local cluster's server (scripts/local-cluster's)."""
    done = subprocess.run(["pg_ctlcluster", "15", "main", action], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def pg(tmp_path):
    """The live server's URL, a fresh study name, and the server started again whatever the test did."""
    url = postgres_url()
    if subprocess.run(["which", "pg_ctlcluster"], capture_output=True).returncode != 0:
        pytest.skip("pg_ctlcluster is not here: the outage tests stop and start scripts/local-cluster's server")
    yield url, f"fault_{uuid.uuid4().hex[:8]}"
    if not ready(wait_s=0):
        database("start")


def start_workers(tmp_path, tiny_mnist, url, name, n_trials, n=2, sleep=0.3, *extra):
    beacon = tmp_path / "beacon"
    args = search_args(tiny_mnist, tmp_path / "sweep", n_trials, "trainer.max_epochs=2",
                       BEACON.format(path=beacon, sleep=sleep), "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}",
                       f"hydra.sweeper.study_name={name}", *extra)
    procs = {f"w{i}": worker(args, tmp_path / f"w{i}.log", TINYNETS_STORAGE=url) for i in range(n)}
    return procs, beacon, args


def training(procs, beacon: Path, timeout: float = 120) -> dict[str, int]:
    """Wait until every worker is inside a trial's training; returns name -> pid."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = {int(line.split()[0]) for line in (beacon.read_text().splitlines() if beacon.exists() else [])
                if line.strip()}
        if all(p.pid in pids for p in procs.values()):
            return {k: p.pid for k, p in procs.items()}
        if any(p.poll() is not None for p in procs.values()):
            raise AssertionError("a worker ended before training")
        time.sleep(0.1)
    raise AssertionError(f"the workers were not all training within {timeout:.0f} s")


def wait_all(procs, tmp_path, timeout: float = 240) -> dict[str, int]:
    codes = {k: p.wait(timeout=timeout) for k, p in procs.items()}
    return codes


def logs(tmp_path, procs) -> dict[str, str]:
    """Each worker's log, checked quiet: no Optuna ExperimentalWarning for what we use on purpose, no
    Lightning hint to use srun on a local run (SLURM is installed here)."""
    text = {k: (tmp_path / f"{k}.log").read_text() for k in procs}
    for log in text.values():
        assert "ExperimentalWarning" not in log and "`srun` command" not in log, log[:3000]
    return text


def assert_agree(study, sweep: Path, n_trials: int) -> None:
    """Exactly n_trials finished lineages, none RUNNING or WAITING; every trial's job dir and leaderboard
    row say what the study says (COMPLETE: ok; FAIL: retried or superseded, never ok)."""
    from optuna.trial import TrialState

    from tinynets.search.study import budget

    b = budget(study)
    assert (b.lineages, b.finished, b.running, b.waiting) == (n_trials, n_trials, 0, 0), b
    with open(sweep / "leaderboard.csv", newline="") as f:
        board = {r["job"]: r["status"] for r in csv.DictReader(f)}
    import json

    for t in study.trials:
        job = f"trial={t.number}"
        record = json.loads((sweep / job / "metrics.json").read_text())
        word = board[job].split(":")[0]
        assert word == record["status"], (job, board[job], record["status"])
        if t.state == TrialState.COMPLETE:
            assert record["status"] == "ok", (job, record["status"])
        else:
            assert t.state == TrialState.FAIL and record["status"] in ("retried", "superseded", "failed"), \
                (job, t.state, record["status"])
    assert len(board) == len(study.trials)


def test_a_database_outage_longer_than_the_grace_period_costs_nothing(tmp_path, tiny_mnist, pg):
    """Two workers training; the server stopped for twice the grace period, then started: both trials
    are told when it returns, none failed, and the search finishes its budget."""
    url, name = pg
    procs, beacon, _ = start_workers(tmp_path, tiny_mnist, url, name, 3, 2, 0.4)
    training(procs, beacon)
    database("stop")
    try:
        time.sleep(8)  # grace_period=4 (tests.search.test_workers.search_args)
    finally:
        database("start")
    codes = wait_all(procs, tmp_path)
    text = logs(tmp_path, procs)
    assert codes == {"w0": 0, "w1": 0}, {k: v[-3000:] for k, v in text.items()}
    for log in text.values():
        assert "Traceback" not in log and "error:" not in log, log[-3000:]
        assert log.count("unreachable during") == 1, log[-3000:]  # one line per outage, password hidden
        assert "***" in log.split("unreachable during")[0].rsplit("\n", 1)[-1]
    study = load_study(url, name)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert_agree(study, tmp_path / "sweep", 3)


def test_an_outage_longer_than_the_window_stops_the_worker_and_the_same_command_finishes(tmp_path, tiny_mnist, pg):
    url, name = pg
    procs, beacon, args = start_workers(tmp_path, tiny_mnist, url, name, 2, 1, 0.4, "hydra.sweeper.outage_window=2")
    training(procs, beacon)
    database("stop")
    try:
        code = procs["w0"].wait(timeout=60)
    finally:
        database("start")
    log = (tmp_path / "w0.log").read_text()
    assert code == 1 and "Traceback" not in log, log[-3000:]
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "unreachable for more than 2 s (hydra.sweeper.outage_window)" in errors[0], log[-2000:]
    assert "***" in errors[0] and postgres_password(url) not in log
    again = worker(args, tmp_path / "again.log", TINYNETS_STORAGE=url)
    assert again.wait(timeout=240) == 0, (tmp_path / "again.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "again.log").read_text()
    assert_agree(load_study(url, name), tmp_path / "sweep", 2)


def postgres_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).password


def test_a_worker_paused_past_the_grace_period_stops_its_superseded_trial_and_goes_on(tmp_path, tiny_mnist, pg):
    """SIGSTOP a training worker until the other has failed its trial (stale heartbeat) and queued the
    retry, then SIGCONT: it stops that trial at once, records it superseded, and takes the next one."""
    from optuna.trial import TrialState

    url, name = pg
    procs, beacon, _ = start_workers(tmp_path, tiny_mnist, url, name, 3, 2, 0.4)
    pids = training(procs, beacon)
    paused = "w0"
    study = load_study(url, name)
    mine = next(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.user_attrs.get("owner", "").endswith(f":{pids[paused]}"))
    os.killpg(pids[paused], signal.SIGSTOP)
    try:
        deadline = time.time() + 90
        while study.trials[mine].state == TrialState.RUNNING and time.time() < deadline:
            time.sleep(0.5)
        assert study.trials[mine].state == TrialState.FAIL, "the paused worker's trial was never failed"
    finally:
        os.killpg(pids[paused], signal.SIGCONT)
    codes = wait_all(procs, tmp_path)
    text = logs(tmp_path, procs)
    assert codes == {"w0": 0, "w1": 0}, {k: v[-3000:] for k, v in text.items()}
    for log in text.values():
        assert "Traceback" not in log and "UpdateFinishedTrialError" not in log, log[-3000:]
    assert text[paused].count(f"trial {mine} superseded") == 1, text[paused][-3000:]
    study = load_study(url, name)
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == mine)
    assert retry.state == TrialState.COMPLETE and retry.params == study.trials[mine].params
    import json

    record = json.loads((tmp_path / "sweep" / f"trial={mine}" / "metrics.json").read_text())
    assert record["status"] == "superseded" and f"retried as trial {retry.number}" in record["error"]
    assert_agree(study, tmp_path / "sweep", 3)
    board = (tmp_path / "sweep" / "leaderboard.md").read_text()
    assert "1 superseded" in board and f"| trial={mine} |" in board
