"""Where a search's study lives and how processes share it: which Optuna storage a
`hydra.sweeper.storage` string means (its password never shown: `redact`), the storage object (with
Optuna's heartbeat and retry of stale trials where the storage has them), the study-level lock that
makes "is there budget left? then ask" one step across processes, and the study's id, read through
the storage's public API.

What each storage promises (docs/scale-out.md):
- PostgreSQL (and other RDB servers): heartbeats; a trial whose process died (any host) is failed after
  `grace_period` and retried by a live worker; the budget lock is a PostgreSQL advisory lock (transaction-level).
- sqlite: heartbeats too, on one machine (sqlite's own locking is not for network file systems).
- journal:<file>: no heartbeat in Optuna; a trial left RUNNING is failed and retried only by a worker on
  the host that ran it (it can tell the process is gone); made for shared file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tinynets.errors import ConfigError, UserError
from tinynets.search.secret import JOURNAL, password_of, redact  # noqa: F401  (redact: imported from here too)

RDB_DIALECTS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
STORAGE_ALLOWED = ("an Optuna RDB URL (sqlite:///<file>, postgresql+psycopg://user@host/db, mysql://...) "
                   "or journal:<file> (Optuna's JournalStorage, a file on a shared file system)")
SECRET_HOW = ("a password must not be typed into the config or the command line (it would be saved in .hydra/ "
              "and the logs): put the URL in an environment variable, hydra.sweeper.storage='${oc.env:TINYNETS_STORAGE}', "
              "or in a file, hydra.sweeper.storage='${tinynets.read:/path/to/storage.url}'")


def check_storage(url: Any, raw: Any = None) -> str:
    """The storage string, checked: `journal:<path>` or an RDB URL of a known dialect; `raw` is the
    value as written in the config (an interpolation for a URL read from the environment or a file):
    a password typed in literally is refused."""
    text = "" if url is None else str(url)
    if text.startswith(JOURNAL) and text[len(JOURNAL):].strip():
        return text
    m = re.match(r"^([A-Za-z][\w]*)(\+\w+)?://", text)
    if not (m and m.group(1).lower() in RDB_DIALECTS):
        raise ConfigError("hydra.sweeper.storage", redact(url), f"must be {STORAGE_ALLOWED}")
    typed = text if raw is None else str(raw)
    if password_of(text) and "${" not in typed:
        raise ConfigError("hydra.sweeper.storage", redact(text), SECRET_HOW)
    return text


# Optuna's experimental features a search uses on purpose (optuna>=5,<6 in pyproject.toml guards them):
# its warnings say nothing to a user; any other ExperimentalWarning is still shown
OUR_EXPERIMENTAL = (r"RetryHeartbeatStaleTrialCallback is experimental", r"fail_stale_trials is experimental",
                    r"set_metric_names is experimental",
                    r"Argument ``(heartbeat_interval|grace_period|failed_trial_callback|heartbeat_stale_trial_callback"
                    r"|constant_liar|multivariate|group|constraints_func)`` is an experimental feature")


def quiet_optuna() -> None:
    """Ignore the ExperimentalWarnings of OUR_EXPERIMENTAL (and Optuna's note that heartbeats are meant
    for Study.optimize: the workers beat themselves)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    for message in OUR_EXPERIMENTAL:
        warnings.filterwarnings("ignore", message=message, category=ExperimentalWarning)
    warnings.filterwarnings("ignore", message=r"Heartbeat of storage is supposed to be used with Study.optimize")


def storage_file(url: str) -> Path | None:
    """The local file a storage lives in (sqlite or journal), if any."""
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL):])
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def has_heartbeat(url: str) -> bool:
    """Whether Optuna keeps heartbeats in this storage (its RDB storages; not the journal)."""
    return not url.startswith(JOURNAL)


POOL = {"pool_size": 2, "max_overflow": 0}  # a worker's connections to a server: at most 2 at once (docs/scale-out.md)


def open_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_retry: int | None = None):
    """The Optuna storage object for a checked storage string, one per process and URL (a search
    trial's job, in its worker's process, shares its worker's). With `heartbeat_interval` (RDB only),
    RUNNING trials without a heartbeat for `grace_period` seconds are failed by the next worker that
    looks, and retried (same parameters, lineage in the retry's system attrs) up to `max_retry` times.
    An RDB storage waits out an outage (tinynets.search.outage); on a server, a process holds at most
    POOL's connections, named `tinynets <pid>` in pg_stat_activity. A storage that cannot be reached when it
    is opened is one line naming the URL without its password."""
    quiet_optuna()
    key = (url, heartbeat_interval, grace_period, max_retry)
    if key in _OPEN or (heartbeat_interval is None and any(k[0] == url for k in _OPEN)):
        return _OPEN.get(key) or next(v for k, v in _OPEN.items() if k[0] == url)
    path = storage_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(JOURNAL):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        _OPEN[key] = JournalStorage(JournalFileBackend(str(path)))
        return _OPEN[key]
    beat: dict[str, Any] = {}
    if heartbeat_interval:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        beat = dict(heartbeat_interval=int(heartbeat_interval), grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
    if url.startswith("sqlite"):
        engine: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine = {"pool_pre_ping": True, **POOL}
        if url.split(":", 1)[0].split("+", 1)[0].lower().startswith("postgres"):
            engine["connect_args"] = {"application_name": application()}
    from tinynets.search.outage import OUTAGE, patient_storage_class

    OUTAGE.url = OUTAGE.url or url
    USAGE.watch()
    try:
        storage = patient_storage_class()(url, engine_kwargs=engine, **beat)
    except ModuleNotFoundError as e:  # e.g. psycopg for postgresql+psycopg://
        raise UserError(f"hydra.sweeper.storage={redact(url)!r} needs the Python package {e.name!r}: "
                        "pip install 'tinynets[cluster]'") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy's OperationalError and friends: the server is not there
        raise unreachable(url, e) from None
    _OPEN[key] = storage
    return storage


def application() -> str:
    """pg_stat_activity.application_name of this process's connections: `tinynets <pid>`."""
    return f"tinynets {os.getpid()}"


_OPEN: dict[tuple, Any] = {}


class Usage:
    """What this process asked of its storage servers (SQLAlchemy's events, on every engine and pool of
    the process: its storages are the only ones): statements run, connections opened, the most it held
    checked out at once."""

    def __init__(self) -> None:
        self.statements = self.connects = self.held = self.peak = 0
        self.watching = False

    def watch(self) -> None:
        if self.watching:
            return
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        def statement(*_a) -> None:
            self.statements += 1

        def connect(*_a) -> None:
            self.connects += 1

        def checkout(*_a) -> None:
            self.held += 1
            self.peak = max(self.peak, self.held)

        def checkin(*_a) -> None:
            self.held -= 1

        event.listen(Engine, "before_cursor_execute", statement)
        event.listen(Pool, "connect", connect)
        event.listen(Pool, "checkout", checkout)
        event.listen(Pool, "checkin", checkin)
        self.watching = True

    def snapshot(self) -> dict[str, int]:
        return {"statements": self.statements, "connects": self.connects, "peak_connections": self.peak}


USAGE = Usage()


def unreachable(url: str, e: BaseException) -> UserError:
    """The one line for a storage that cannot be reached: its URL without the password, and why."""
    reason = redact(" ".join(str(getattr(e, "orig", None) or e).split()), url)[:300]
    return UserError(f"hydra.sweeper.storage: cannot reach {redact(url)} ({type(e).__name__}: {reason})")


def study_id(storage, study_name: str) -> int:
    return storage.get_study_id_from_name(study_name)


def trial_id(storage, study_name: str, number: int) -> int:
    """A trial's storage id from its study's name and its number (public storage API only)."""
    return storage.get_trial_id_from_study_id_trial_number(study_id(storage, study_name), number)


def _lock_key(url: str, study_name: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory lock, from the study (not the password)."""
    digest = hashlib.sha1(f"{redact(url)}|{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def study_lock(url: str, study_name: str, timeout: float = 600, engine: Any = None) -> Iterator[float]:
    """Held while a process decides whether the study's budget allows one more trial and asks for it,
    so that workers together never start more than the budget: a file lock beside a sqlite or journal
    file, an advisory lock on PostgreSQL (on a connection of `engine`, the storage's, when given), none
    elsewhere (other servers: the budget may be exceeded by a trial per racing worker). Yields the
    seconds it waited for the lock."""
    t0 = time.perf_counter()
    path = storage_file(url)
    if path is not None:
        from filelock import FileLock

        with FileLock(str(path) + ".tinynets.lock", timeout=timeout):
            yield time.perf_counter() - t0
        return
    if not url.split(":", 1)[0].split("+", 1)[0].lower().startswith("postgres"):
        yield 0.0
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    own = engine is None
    engine = create_engine(url, pool_pre_ping=True, poolclass=NullPool,
                           connect_args={"application_name": application()}) if own else engine
    key = _lock_key(url, study_name)
    try:
        try:
            conn = engine.connect()
        except Exception as e:  # noqa: BLE001 - the server is not there
            if own:
                raise unreachable(url, e) from None
            raise
        with conn:  # a transaction-level lock: released when the transaction ends, however it ends (a worker
            # killed in the section, a server gone, a pooler such as PgBouncer in transaction mode)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            try:
                yield time.perf_counter() - t0
            finally:
                with contextlib.suppress(Exception):  # a connection the server dropped: its lock went with it
                    conn.rollback()
    finally:
        if own:
            engine.dispose()
