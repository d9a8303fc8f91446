"""Riding out a storage outage and stopping a superseded trial, without a server or training: `patient`
retries what cannot reach the storage (one log line per outage, the password hidden) and gives up after
the window with one line; inside the study lock's section a call fails at once; `recover` does not judge
heartbeats until the storage has been reachable for a grace period; a trial failed elsewhere is seen by
its heartbeat and stops its job; the leaderboard never counts a superseded trial as ok."""

from __future__ import annotations

import logging
import time

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from tinynets.errors import UserError
from tinynets.run.metrics import SUPERSEDED, write_metrics
from tinynets.search import outage
from tinynets.search.outage import OUTAGE, StorageOutage, impatient, patient

URL = "postgresql+psycopg://me:s3cr3t-pw@db.example:5432/tinynets"


@pytest.fixture(autouse=True)
def fresh_outage(monkeypatch):
    """OUTAGE is per process: each test starts with no outage, a short backoff, and leaves none behind."""
    monkeypatch.setattr(outage, "FIRST_DELAY", 0.01)
    monkeypatch.setattr(outage, "MAX_DELAY", 0.02)
    saved = (OUTAGE.url, OUTAGE.window, OUTAGE.since, OUTAGE.last_failure)
    OUTAGE.configure(URL, 5.0)
    OUTAGE.since = OUTAGE.last_failure = None
    yield
    OUTAGE.url, OUTAGE.window, OUTAGE.since, OUTAGE.last_failure = saved


def refused(n: int):
    """A call that cannot reach the server n times (SQLAlchemy's error, quoting the URL), then answers."""
    calls = []

    def call():
        calls.append(time.monotonic())
        if len(calls) <= n:
            raise OperationalError("connect", {}, Exception(f"connection to {URL} refused"))
        return "answer"

    return call, calls


def test_an_outage_is_retried_with_one_line_and_the_password_hidden(caplog):
    call, calls = refused(3)
    with caplog.at_level(logging.WARNING, logger="tinynets.search"):
        assert patient(call, what="tell of trial 3") == "answer"
        call2, _ = refused(0)
        assert patient(call2) == "answer"
    assert len(calls) == 4
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "unreachable during tell of trial 3" in lines[0] and "retrying for up to 5 s" in lines[0]
    assert "s3cr3t-pw" not in lines[0] and "me:***@db.example" in lines[0]
    assert OUTAGE.since is None  # the outage is over: the next one logs its own line


def test_an_outage_longer_than_the_window_is_one_line_and_status_1():
    OUTAGE.configure(URL, 0.05)
    call, _ = refused(10_000)
    with pytest.raises(StorageOutage) as e:
        patient(call, what="asking for a trial")
    assert isinstance(e.value, UserError) and e.value.code == 1
    assert str(e.value).startswith("hydra.sweeper.storage: postgresql+psycopg://me:***@db.example:5432/tinynets "
                                   "unreachable for more than 0 s (hydra.sweeper.outage_window) during asking")
    assert "\n" not in str(e.value) and "s3cr3t-pw" not in str(e.value)


def test_other_errors_are_not_retried_and_impatient_calls_fail_at_once():
    def bad():
        raise ValueError("a bad request")

    with pytest.raises(ValueError):
        patient(bad)
    assert OUTAGE.since is None
    call, calls = refused(1)
    with impatient(), pytest.raises(OperationalError):
        patient(call)
    assert len(calls) == 1 and OUTAGE.last_failure is not None  # the section is retried whole, by its caller


def test_recover_does_not_judge_heartbeats_right_after_an_outage(tmp_path):
    from tinynets.search.storage import open_storage, trial_id
    from tinynets.search.study import OWNER, recover

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=1)
    s = optuna.create_study(study_name="s", storage=storage)
    t = s.ask()
    t.set_user_attr(OWNER, "another-host:1")  # alive as far as this host can tell: only its heartbeat speaks
    storage.record_heartbeat(trial_id(storage, "s", t.number))
    time.sleep(2.2)  # stale (sqlite keeps whole seconds)
    OUTAGE.last_failure = time.monotonic()  # this process just failed to reach the storage
    assert recover(s, url, max_retry=1, grace=1, interval=1) == []
    OUTAGE.last_failure = time.monotonic() - 2.5  # reachable for longer than grace + interval
    assert recover(s, url, max_retry=1, grace=1, interval=1) == [t.number]


def test_a_trial_failed_elsewhere_is_seen_by_its_heartbeat_and_stops_its_job(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from tinynets.search import trial as trial_side
    from tinynets.search.storage import open_storage
    from tinynets.search.study import Heartbeat
    from tinynets.search.trial import Superseded, callbacks

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=1)
    s = optuna.create_study(study_name="s", storage=storage)
    t = s.ask()
    beat = Heartbeat(storage, "s", t.number, 0.1)
    monkeypatch.setattr(trial_side, "_sweeper", lambda: OmegaConf.create({"study_name": "s"}))  # the job's Hydra
    (stop,) = callbacks(OmegaConf.create({"optuna_trial": t.number}))  # what the trial's job adds to its run
    try:
        time.sleep(0.3)
        assert beat.superseded is None
        stop.on_train_batch_end(None, None, None, None, 0)  # still ours: training goes on
        s.tell(t.number, state=optuna.trial.TrialState.FAIL)  # another worker failed it
        deadline = time.time() + 5
        while beat.superseded is None and time.time() < deadline:
            time.sleep(0.05)
        assert beat.superseded and "is FAIL in the study" in beat.superseded
        with pytest.raises(Superseded):
            stop.on_train_batch_end(None, None, None, None, 0)
    finally:
        beat.stop()
    assert beat.superseded is None  # forgotten once its trial is over


def test_the_leaderboard_shows_superseded_and_never_counts_it_ok(tmp_path):
    from tinynets.search.jobs import record_superseded
    from tinynets.search.leaderboard import collect, rank

    write_metrics(tmp_path / "trial=0", {"status": "ok", "best_val_acc": 99.0, "params": 100})
    write_metrics(tmp_path / "trial=1", {"status": "ok", "best_val_acc": 50.0, "params": 100})
    record_superseded(tmp_path / "trial=0", 0, "trial 0 is FAIL in the study", 2)
    rows = {r["job"]: r for r in rank(collect(tmp_path))}
    assert rows["trial=0"]["status"] == SUPERSEDED and rows["trial=0"]["reason"].endswith("retried as trial 2")
    assert rows["trial=1"]["rank"] == 1 and rows["trial=0"]["rank"] == 2  # below every ok job, its accuracy kept
    assert rows["trial=0"]["metrics"]["best_val_acc"] == 99.0
