"""The search's side of a trial's job and its storage: the holdout rule, which Optuna storage a
`hydra.sweeper.storage` string means, and the running trial a job reports its epochs to.

The sweeper (tinynets/optuna_sweep.py) asks the study for a trial and launches a job with
`optuna_trial=<number>`; the job opens the same study from its storage (so it works from other
processes: joblib, submitit, other machines), reports its per-epoch val accuracy to that trial,
and the pruner configured as `hydra.sweeper.pruner` (built in the job) decides whether it stops
(`tinynets.callbacks.OptunaPruning`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.config import ConfigError

log = logging.getLogger("tinynets.search")

TRIAL_KEY = "optuna_trial"
JOURNAL = "journal:"
RDB_DIALECTS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
STORAGE_ALLOWED = ("an Optuna RDB URL (sqlite:///<file>, postgresql://user@host/db, mysql://...) "
                   "or journal:<file> (Optuna's JournalStorage, a file on a shared file system)")


def trial_number(cfg: DictConfig) -> int | None:
    value = OmegaConf.select(cfg, TRIAL_KEY, default=None)
    return None if value is None else int(value)


def check_holdout(cfg: DictConfig) -> None:
    """A search's objective comes from a holdout split of train, never from the test set."""
    value = OmegaConf.select(cfg, "data.val_split", default=None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("data.val_split", value, "a search needs a holdout: an integer >= 1 "
                          "(e.g. 5000), so that its objective is never the test set")


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


# ----------------------------------------------------------------------------- in the job
def open_trial(cfg: DictConfig):
    """The running Optuna trial this job is, from the study's storage; None outside a search,
    and for a multi-objective study (Optuna prunes single-objective studies only)."""
    number = trial_number(cfg)
    if number is None or not HydraConfig.initialized():
        return None
    sweeper = HydraConfig.get().sweeper
    storage, study_name = sweeper.get("storage"), sweeper.get("study_name")
    if not storage or not study_name:
        log.warning("optuna_trial=%s but the sweeper has no storage/study_name: no pruning", number)
        return None
    import optuna
    from hydra.utils import instantiate

    pruner = instantiate(sweeper.pruner) if sweeper.get("pruner") else optuna.pruners.NopPruner()
    study = optuna.load_study(study_name=study_name, storage=open_storage(check_storage(storage)), pruner=pruner)
    if len(study.directions) > 1:
        return None
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)
