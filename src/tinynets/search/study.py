"""The study that a search's processes share, and the rules that make them lose no trial:

- The budget belongs to the study: `n_trials` is the number of trial *lineages* (a trial and the
  retries of it), so every process together finishes exactly `n_trials` trials (complete, pruned, or
  failed with no retry left) however many processes run and however often one is restarted.
- `next_trial` decides and asks under the study lock (tinynets.search.storage.study_lock): a waiting
  retry first, else a new trial while the budget allows, else nothing (`Ask.wait` while trials still
  run somewhere and could come back as retries; `Ask.done` when the study is finished).
- A trial is claimed under that lock: its heartbeat starts, then its owner (host:pid) is recorded, so
  a process killed at any point leaves a trial that one rule of `recover` fails: a stale heartbeat
  (Optuna's fail_stale_trials, any host), a dead owner process on this host (any storage: the only
  rule a journal file allows), or no owner `grace` seconds after the ask. The retry is queued with
  Optuna's lineage (system attrs `failed_trial`, `retry_history`).
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from tinynets.search.storage import has_heartbeat, study_lock, trial_id

log = logging.getLogger("tinynets.search")

OWNER = "owner"  # user attr: host:pid of the process that asked the trial


class Ask(enum.Enum):
    TRIAL = "trial"  # a trial was asked
    WAIT = "wait"  # nothing to ask now, but trials still run and may come back as retries
    DONE = "done"  # the budget is spent and no trial runs: the study is finished


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def retried(trials) -> set[int]:
    """The numbers of the trials that were retried (each retry lists its lineage in `retry_history`)."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", [])}


@dataclass(frozen=True)
class Budget:
    lineages: int  # trials that are no retry: what n_trials counts
    finished: int  # finished trials that end their lineage (complete, pruned, failed with no retry)
    running: int
    waiting: int


def budget(study) -> Budget:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    return Budget(
        lineages=sum("failed_trial" not in t.system_attrs for t in trials),
        finished=sum(t.state.is_finished() and t.number not in again for t in trials),
        running=sum(t.state == TrialState.RUNNING for t in trials),
        waiting=sum(t.state == TrialState.WAITING for t in trials))


_SUPERSEDED: dict[tuple[str, int], str] = {}  # (study, trial number) -> why: set by the trial's heartbeat thread


def superseded(study_name: str, number: int) -> str | None:
    """Why this process's trial `number` is no longer RUNNING in its study (failed elsewhere while this
    process was paused or cut off, and retried; or a seed-robust trial ended by another of its seeds),
    or None: the job stops at its next batch."""
    return _SUPERSEDED.get((study_name, number))


def supersede(study_name: str, number: int, why: str) -> None:
    """Mark this process's job of trial `number` superseded: it stops at its next batch, and is not told."""
    _SUPERSEDED[(study_name, number)] = why


class Heartbeat:
    """Records the trial's heartbeat every `interval` seconds until stopped (storages with heartbeats),
    the first beat at once; each beat also reads the trial's state: a trial failed elsewhere (its
    heartbeat went stale while this process was paused) is `superseded`, and the beats stop. A beat that
    cannot reach the storage is tried again within outage.MAX_DELAY seconds (the outage's one line is
    tinynets.search.outage's)."""

    def __init__(self, storage, study_name: str, number: int, interval: float | None) -> None:
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.key = (study_name, number)
        if not interval or not hasattr(storage, "record_heartbeat"):
            return
        from optuna.trial import TrialState

        from tinynets.search.outage import MAX_DELAY, impatient, is_outage

        tid = trial_id(storage, study_name, number)
        storage.record_heartbeat(tid)

        def beat() -> None:
            wait = interval
            with impatient():  # a failed beat is tried again here, soon, not inside the call
                while not self.stop_event.wait(wait):
                    try:
                        storage.record_heartbeat(tid)
                        state = storage.get_trial(tid).state
                    except Exception as e:  # noqa: BLE001 - the next beat tries again
                        if not is_outage(e):
                            log.warning("heartbeat of trial %d failed: %s", number, e)
                        wait = min(interval, MAX_DELAY)
                        continue
                    wait = interval
                    if state != TrialState.RUNNING and not self.stop_event.is_set():
                        _SUPERSEDED[self.key] = (f"trial {number} is {state.name} in the study: it was failed "
                                                 "elsewhere while this process was paused or cut off (no heartbeat "
                                                 "for the grace period)")
                        return

        self.thread = threading.Thread(target=beat, name=f"heartbeat-{number}", daemon=True)
        self.thread.start()

    @property
    def superseded(self) -> str | None:
        return _SUPERSEDED.get(self.key)

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        _SUPERSEDED.pop(self.key, None)


def recover(study, url: str, max_retry: int | None, grace: float = 60.0, interval: float = 0.0) -> list[int]:
    """Fail the trials whose process is gone and queue their retries: stale heartbeats (Optuna's
    fail_stale_trials, any host); the trials of dead processes of this host (any storage: a journal
    keeps no heartbeat, and a process killed before its first heartbeat leaves none); and trials
    asked more than `grace` seconds ago that no process ever claimed (killed between asking and
    claiming). Returns the numbers of the trials this process failed.

    Heartbeats are judged only once this process has reached the storage without a failure for
    `grace` + `interval` seconds: after an outage, no worker could beat, and the live ones need a
    moment to beat again (tinynets.search.outage)."""
    import datetime

    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    from tinynets.search.outage import OUTAGE

    if has_heartbeat(url) and OUTAGE.quiet_for() >= grace + interval:
        with warnings.catch_warnings():  # experimental since Optuna 2.9, stable in use; the bound in pyproject guards it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    failed = sorted({t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))} - before)
    host, now = socket.gethostname(), datetime.datetime.now()
    from tinynets.search import seeds

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        o_host, _, o_pid = str(t.user_attrs.get(OWNER, "")).rpartition(":")
        if seeds.held(t, now.timestamp(), grace, _alive):
            continue  # a seed-robust trial whose seeds a live worker trains: alive, whoever asked it
        if OWNER in t.user_attrs:
            if o_host != host or not o_pid.isdigit() or _alive(int(o_pid)):
                continue  # another machine's trial (its heartbeat speaks for it), or a live process's
        elif t.datetime_start is None or (now - t.datetime_start).total_seconds() < grace \
                or OUTAGE.quiet_for() < grace:
            continue  # just asked: its process claims it in a moment (or could not, the storage being away)
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another process failed it first: it queues the retry
            continue
        frozen = next(x for x in study.get_trials(deepcopy=True) if x.number == t.number)
        RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, frozen)
        failed.append(t.number)
    return failed


def retry_of(study, number: int) -> int | None:
    """The number of the trial that retries trial `number`, if one was queued."""
    return next((t.number for t in study.get_trials(deepcopy=False)
                 if t.system_attrs.get("retry_history", [None])[-1] == number), None)


LOCK_WAITS: list[float] = []  # seconds this process waited for the study lock, one per ask (the bench reads them)
LOCK_HELD: list[float] = []  # seconds it then held the lock (the budget read, the ask and its sampling, the claim)


def next_trial(study, url: str, n_trials: int, space: dict[str, Any], wait: bool = True,
               claim: Any = None, engine: Any = None):
    """(Ask.TRIAL, trial) or (Ask.WAIT | Ask.DONE, None), decided and asked under the study lock.
    `wait`: whether to wait for trials that run elsewhere (they can come back as retries only where
    heartbeats tell that their process died: without them, this process is done). `claim(number)`,
    called under the lock before the trial gets its owner, starts its heartbeat and returns it: a
    claimed trial always has one, so that a process killed at any point leaves a trial some rule fails.
    `engine`: the storage's SQLAlchemy engine, whose pool the PostgreSQL lock's connection comes from.
    The section is tried again as a whole while the storage is unreachable (a trial asked before the
    failure, never claimed, is failed after the grace period and retried: the budget stays exact)."""
    def decide(claimed: list) -> tuple[Ask, Any]:
        return _ask(study, n_trials, space, wait, claim, claimed)

    return _locked(study, url, engine, decide)


def _ask(study, n_trials: int, space: dict[str, Any], wait: bool, claim: Any, claimed: list) -> tuple[Ask, Any]:
    """next_trial's decision, the study lock held: a queued retry, else a new trial within the budget."""
    b = budget(study)
    if not (b.waiting or b.lineages < n_trials):
        return (Ask.WAIT if b.running and wait else Ask.DONE), None
    trial = study.ask(fixed_distributions=space)  # Optuna's note on heartbeats: storage.quiet_optuna
    if claim is not None:
        claimed.append(claim(trial.number))
    trial.set_user_attr(OWNER, owner())
    return Ask.TRIAL, trial


def next_job(study, storage, url: str, n_trials: int, space: dict[str, Any], seeds: list[int] | None = None,
             wait: bool = True, claim: Any = None, grace: float = 60.0, engine: Any = None):
    """(Ask.TRIAL, trial, seed) or (Ask.WAIT | Ask.DONE, None, None): `next_trial` for a search whose
    trials run one job per seed (tinynets.search.seeds): under the study lock, an open seed of a
    running trial first, else a new trial (or a queued retry) and its first open seed. Without
    `seeds`: `next_trial`, seed None."""
    if not seeds:
        what, trial = next_trial(study, url, n_trials, space, wait, claim, engine)
        return what, trial, None
    import optuna
    from optuna.trial import TrialState

    from tinynets.search import seeds as seed_jobs

    def decide(claimed: list):
        now = time.time()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            seed = seed_jobs.open_seed(t, now, grace, _alive)
            if seed is not None:
                if claim is not None:
                    claimed.append(claim(t.number))
                tid = trial_id(storage, study.study_name, t.number)
                seed_jobs.claim(storage, tid, seed, owner())
                return Ask.TRIAL, (optuna.trial.Trial(study, tid), seed)
        while True:
            what, trial = _ask(study, n_trials, space, wait, claim, claimed)
            if trial is None:
                return what, (None, None)
            tid = trial_id(storage, study.study_name, trial.number)
            if seed_jobs.SEEDS_ATTR not in storage.get_trial(tid).user_attrs:  # a retry keeps its own
                storage.set_trial_user_attr(tid, seed_jobs.SEEDS_ATTR, list(seeds))
            seed = seed_jobs.open_seed(storage.get_trial(tid), now, grace, _alive)
            if seed is not None:
                seed_jobs.claim(storage, tid, seed, owner())
                return what, (trial, seed)
            agg = seed_jobs.finish(storage, tid)  # a retry of a trial whose seeds were all done: tell it
            if agg is not None:
                study.tell(trial, values=agg["mean"])
                log.info("trial %d: complete from the seeds it inherited", trial.number)
                continue
            return Ask.WAIT, (None, None)  # its seeds are held by workers that live on

    what, (trial, seed) = _locked(study, url, engine, decide)
    return what, trial, seed


def _locked(study, url: str, engine: Any, decide) -> tuple[Ask, Any]:
    """`decide(claimed)` in the study lock's section; the heartbeats it started are stopped if it fails.
    The section is tried again as a whole while the storage is unreachable."""
    from tinynets.search.outage import impatient, patient

    def section() -> tuple[Ask, Any]:
        claimed: list = []
        try:
            with impatient(), study_lock(url, study.study_name, engine=engine) as waited:
                LOCK_WAITS.append(waited)
                held = time.perf_counter()
                try:
                    return decide(claimed)
                finally:
                    LOCK_HELD.append(time.perf_counter() - held)
        except BaseException:
            for beat in claimed:
                if beat is not None:
                    beat.stop()
            raise

    return patient(section, what="asking for a trial")
