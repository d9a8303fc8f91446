"""Where a search's study lives: which Optuna storage a `hydra.sweeper.storage` string means,
the local file it is kept in (sqlite, journal), and the storage object itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tinynets.errors import ConfigError

JOURNAL = "journal:"
RDB_DIALECTS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
STORAGE_ALLOWED = ("an Optuna RDB URL (sqlite:///<file>, postgresql://user@host/db, mysql://...) "
                   "or journal:<file> (Optuna's JournalStorage, a file on a shared file system)")


def check_storage(url: Any) -> str:
    """The storage string, checked: `journal:<path>` or an RDB URL of a known dialect."""
    text = "" if url is None else str(url)
    if text.startswith(JOURNAL) and text[len(JOURNAL):].strip():
        return text
    m = re.match(r"^([A-Za-z][\w]*)(\+\w+)?://", text)
    if m and m.group(1).lower() in RDB_DIALECTS:
        return text
    raise ConfigError("hydra.sweeper.storage", url, f"must be {STORAGE_ALLOWED}")


def storage_file(url: str) -> Path | None:
    """The local file a storage lives in (sqlite or journal), if any."""
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL):])
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def open_storage(url: str):
    """The Optuna storage object for a checked storage string (see check_storage)."""
    import optuna

    path = storage_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(JOURNAL):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(path)))
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}}
                                      if url.startswith("sqlite") else None)
