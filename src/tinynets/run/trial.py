"""A run that is one trial of a search: the run's side of the seam between run/ and search/ (run/ never
imports search/; search/ imports run/). The sweeper launches the job with `optuna_trial=<number>`
(`trial_number`); the search's side of the job (its Optuna trial for the pruner, the floor rule, the
stop when the study ended the trial elsewhere) is injected by the sweeper's config,
`hydra.sweeper.trial_side`: a function of the job's config (tinynets.search.trial.side) returning an
object with `trial()`, `floor()` and `callbacks()`, which the run calls where it needs each."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tinynets.errors import ConfigError

log = logging.getLogger("tinynets.search")

TRIAL_KEY = "optuna_trial"


class Superseded(Exception):
    """Raised in a search trial's job whose trial its study failed elsewhere (tinynets.search.stopping):
    the job stops, its worker records it `superseded` and goes on."""


def trial_number(cfg: DictConfig) -> int | None:
    """The search trial this job is (`optuna_trial=N`, set by the sweeper), or None: not a search trial."""
    value = OmegaConf.select(cfg, TRIAL_KEY, default=None)
    return None if value is None else int(value)


def check_holdout(cfg: DictConfig) -> None:
    """A search's objective comes from a holdout split of train, never from the test set."""
    value = OmegaConf.select(cfg, "data.val_split", default=None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("data.val_split", value, "a search needs a holdout: an integer >= 1 "
                          "(e.g. 5000), so that its objective is never the test set")


class NotATrial:
    """The search's side of a job that is no search trial: nothing to report to, no floor, no callback."""

    def trial(self) -> Any:
        return None

    def floor(self) -> tuple[int, float] | None:
        return None

    def callbacks(self) -> list:
        return []


def search_side(cfg: DictConfig) -> Any:
    """The search's side of this job, from the sweeper that launched it (`hydra.sweeper.trial_side`);
    NotATrial outside a search, or under a sweeper that has none."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_method

    number = trial_number(cfg)
    sweeper = HydraConfig.get().sweeper if HydraConfig.initialized() and number is not None else None
    if sweeper is None:
        return NotATrial()
    path = sweeper.get("trial_side")
    if not path:
        log.warning("optuna_trial=%s but the sweeper has no storage/study_name: no pruning", number)
        return NotATrial()
    return get_method(str(path))(cfg)
