"""Riding out a storage outage (a database restart, a failover, a network blip): every storage call of
a search worker (ask, tell, heartbeat, recover, the results) that fails because the server cannot be
reached is tried again with backoff, for up to `hydra.sweeper.outage_window` seconds (default 120),
while training goes on. The first failure of an outage logs one line (the URL without its password);
an outage longer than the window ends the worker with one `error:` line (StorageOutage) and the same
command again finishes the study.

`PatientRDBStorage` is Optuna's RDBStorage with every storage call made `patient`, so that Optuna's own
code (the sampler reading trials, `fail_stale_trials`, a trial reporting to the pruner) waits too.
Inside `impatient()` (the study lock's section, tinynets.search.study.next_trial) a call fails at once:
a lock lost with the server must not be ridden out call by call; the whole section is tried again.

`OUTAGE` also tells `recover` whether heartbeats can be judged: a trial's heartbeat could not be
recorded while the server was away, so a heartbeat is stale only once this process has reached the
storage without a failure for longer than the grace period (`OUTAGE.quiet_for()`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from tinynets.errors import UserError, one_line
from tinynets.search.secret import redact

log = logging.getLogger("tinynets.search")

T = TypeVar("T")
FIRST_DELAY, MAX_DELAY = 0.25, 2.0  # backoff between tries, seconds (below any sensible grace period)
DEFAULT_WINDOW = 120.0


class StorageOutage(UserError):
    """The storage stayed unreachable for longer than the outage window: the worker stops (status 1)."""

    code = 1


def is_outage(e: BaseException) -> bool:
    """Whether `e` (or what caused it) says the server cannot be reached, rather than a bad request."""
    from sqlalchemy import exc

    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)):
            return True
        if isinstance(e, exc.DBAPIError) and e.connection_invalidated:
            return True
        e, seen = (e.__cause__ or e.__context__), seen + 1
    return False


def cause(e: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's and Optuna's wrappers (what the server said)."""
    from sqlalchemy import exc

    first, seen = e, 0
    while e is not None and seen < 10:
        if isinstance(e, exc.DBAPIError) and e.orig is not None:
            return e.orig
        if isinstance(e, exc.SQLAlchemyError) and not isinstance(e, exc.DBAPIError):
            return e
        e, seen = (e.__cause__ or e.__context__), seen + 1
    return first


class Outage:
    """This process's view of the storage: whether an outage is under way, since when, and the window."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window = DEFAULT_WINDOW
        self.url = ""  # shown redacted in the one line
        self.since: float | None = None  # the first failure of the current outage (monotonic)
        self.last_failure: float | None = None
        self.started = time.monotonic()
        self.local = threading.local()

    def configure(self, url: str, window: float) -> None:
        self.url, self.window = url, float(window)

    def failed(self, e: BaseException, what: str) -> float:
        """Record a failed call; the first of an outage logs the one line. Returns the outage's length."""
        now = time.monotonic()
        with self.lock:
            self.last_failure = now
            if self.since is None:
                self.since = now
                root = cause(e)
                log.warning("storage %s unreachable during %s (%s: %s): retrying for up to %.0f s "
                            "(hydra.sweeper.outage_window); training goes on", redact(self.url) or "(unknown)", what,
                            type(root).__name__, redact(one_line(root, 200), self.url), self.window)
            return now - self.since

    def ok(self) -> None:
        if self.since is not None:
            with self.lock:
                self.since = None

    def quiet_for(self) -> float:
        """Seconds since this process last failed to reach the storage (or since it started)."""
        return time.monotonic() - (self.last_failure if self.last_failure is not None else self.started)

    @property
    def impatient(self) -> bool:
        return getattr(self.local, "impatient", 0) > 0

    def stop(self, what: str) -> StorageOutage:
        return StorageOutage(f"hydra.sweeper.storage: {redact(self.url)} unreachable for more than "
                             f"{self.window:.0f} s (hydra.sweeper.outage_window) during {what}: this worker stops; "
                             "its trial is retried by the workers that remain, and the same command again finishes "
                             "the study")


OUTAGE = Outage()


@contextlib.contextmanager
def impatient() -> Iterator[None]:
    """Storage calls in this thread fail at once (not retried) inside the block."""
    OUTAGE.local.impatient = getattr(OUTAGE.local, "impatient", 0) + 1
    try:
        yield
    finally:
        OUTAGE.local.impatient -= 1


def patient(fn: Callable[..., T], *args: Any, what: str = "a storage call", **kwargs: Any) -> T:
    """fn(*args, **kwargs), tried again with backoff while the storage is unreachable, for up to the
    outage window since the outage began; then StorageOutage. Other errors are raised as they are."""
    delay = FIRST_DELAY
    while True:
        try:
            result = fn(*args, **kwargs)
        except StorageOutage:
            raise
        except Exception as e:
            if not is_outage(e):
                raise
            down = OUTAGE.failed(e, what)
            if OUTAGE.impatient:
                raise
            if down > OUTAGE.window:
                raise OUTAGE.stop(what) from None
            time.sleep(delay)
            delay = min(2 * delay, MAX_DELAY)
            continue
        OUTAGE.ok()
        return result


def patient_storage_class():
    """Optuna's RDBStorage whose every storage call is `patient` (built on first use: optuna is heavy)."""
    global _PATIENT
    if _PATIENT is not None:
        return _PATIENT
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    names = {n for base in (BaseStorage, BaseHeartbeat) for n in vars(base)
             if not n.startswith("__") and callable(getattr(RDBStorage, n, None))} - {"remove_session"}

    def wrap(name: str):
        method = getattr(RDBStorage, name)

        def call(self, *args, **kwargs):
            return patient(method, self, *args, what=name.strip("_").replace("_", " "), **kwargs)

        call.__name__ = call.__qualname__ = name
        call.__doc__ = method.__doc__
        return call

    _PATIENT = type("PatientRDBStorage", (RDBStorage,), {
        "__doc__": "RDBStorage whose storage calls wait out an outage (tinynets.search.outage).",
        "__module__": __name__, **{n: wrap(n) for n in sorted(names)}})
    globals()["PatientRDBStorage"] = _PATIENT  # picklable by name
    return _PATIENT


_PATIENT: Any = None
