"""A search trial's side, in its job: the holdout rule, the trial number the sweeper gave the job,
and the running Optuna trial it reports its epochs to.

The sweeper (tinynets.search.sweeper) asks the study for a trial and launches a job with
`optuna_trial=<number>`; the job opens the same study from its storage (so it works from other
processes: joblib, submitit, other machines), reports its per-epoch val accuracy to that trial,
and the pruner configured as `hydra.sweeper.pruner` (built in the job) decides whether it stops
(`tinynets.run.callbacks.OptunaPruning`).

The seam: the run reads its trial number and the holdout rule from tinynets.run.trial, and gets this
side (`side`: the trial, the floor, the superseded stop) through `hydra.sweeper.trial_side`, never by
importing search/.
"""

from __future__ import annotations

import logging

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.errors import ConfigError
from tinynets.run.trial import TRIAL_KEY, Superseded, check_holdout, trial_number  # noqa: F401  (the run's side)
from tinynets.search.storage import check_storage, open_storage, trial_id

log = logging.getLogger("tinynets.search")


class Side:
    """The search's side of a trial's job, given to its run (tinynets.run.trial.search_side): each part
    built when the run asks for it."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def trial(self):
        return open_trial(self.cfg)

    def floor(self) -> tuple[int, float] | None:
        return floor(self.cfg)

    def callbacks(self) -> list:
        return callbacks(self.cfg)


def side(cfg: DictConfig) -> Side:
    """`hydra.sweeper.trial_side`: what the run of a trial's job gets from the search."""
    return Side(cfg)


# ----------------------------------------------------------------------------- in the job
def _sweeper():
    return HydraConfig.get().sweeper if HydraConfig.initialized() else None


def open_trial(cfg: DictConfig):
    """The running Optuna trial this job is, from the study's storage; None outside a search,
    and for a multi-objective study (Optuna prunes single-objective studies only: see `floor`)."""
    number = trial_number(cfg)
    sweeper = _sweeper() if number is not None else None
    if sweeper is None:
        return None
    storage, study_name = sweeper.get("storage"), sweeper.get("study_name")
    if not storage or not study_name:
        log.warning("optuna_trial=%s but the sweeper has no storage/study_name: no pruning", number)
        return None
    import optuna
    from hydra.utils import instantiate

    pruner = instantiate(sweeper.pruner) if sweeper.get("pruner") else optuna.pruners.NopPruner()
    store = open_storage(check_storage(storage, raw="${}"))  # the sweeper checked how it was written
    study = optuna.load_study(study_name=study_name, storage=store, pruner=pruner)
    if len(study.directions) > 1:
        return None
    return optuna.trial.Trial(study, trial_id(store, study_name, number))


def callbacks(cfg: DictConfig) -> list:
    """The callbacks a search trial's job adds to its run: the stop when its study failed the trial
    elsewhere (tinynets.search.stopping, told by the trial's heartbeat in this process). None outside a
    search."""
    number, sweeper = trial_number(cfg), _sweeper()
    if number is None or sweeper is None or not sweeper.get("study_name"):
        return []
    from tinynets.search.stopping import StopWhen
    from tinynets.search.study import superseded

    name = str(sweeper.study_name)

    def check() -> None:
        why = superseded(name, number)
        if why is not None:
            raise Superseded(why)

    return [StopWhen(check)]


def floor(cfg: DictConfig) -> tuple[int, float] | None:
    """A search trial's early-stop rule (`hydra.sweeper.floor: {epoch: k, val_acc: x}`): stop after
    epoch k when the val accuracy is below x. None outside a search or without one."""
    sweeper = _sweeper() if trial_number(cfg) is not None else None
    rule = sweeper.get("floor") if sweeper is not None else None
    if not rule:
        return None
    epoch, value = rule.get("epoch"), rule.get("val_acc")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1 or not isinstance(value, (int, float)):
        raise ConfigError("hydra.sweeper.floor", dict(rule), "{epoch: an integer >= 1, val_acc: a number}")
    return epoch, float(value)
