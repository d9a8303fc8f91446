"""A search trial's side, in its job: the holdout rule, the trial number the sweeper gave the job,
and the running Optuna trial it reports its epochs to.

The sweeper (tinynets.search.sweeper) asks the study for a trial and launches a job with
`optuna_trial=<number>`; the job opens the same study from its storage (so it works from other
processes: joblib, submitit, other machines), reports its per-epoch val accuracy to that trial,
and the pruner configured as `hydra.sweeper.pruner` (built in the job) decides whether it stops
(`tinynets.run.callbacks.OptunaPruning`).
"""

from __future__ import annotations

import logging

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.errors import ConfigError
from tinynets.search.storage import check_storage, open_storage

log = logging.getLogger("tinynets.search")

TRIAL_KEY = "optuna_trial"


def trial_number(cfg: DictConfig) -> int | None:
    value = OmegaConf.select(cfg, TRIAL_KEY, default=None)
    return None if value is None else int(value)


def check_holdout(cfg: DictConfig) -> None:
    """A search's objective comes from a holdout split of train, never from the test set."""
    value = OmegaConf.select(cfg, "data.val_split", default=None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("data.val_split", value, "a search needs a holdout: an integer >= 1 "
                          "(e.g. 5000), so that its objective is never the test set")


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
