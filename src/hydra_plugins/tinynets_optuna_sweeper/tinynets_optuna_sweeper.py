"""`hydra/sweeper=tinynets_optuna`: hydra-optuna-sweeper plus trial pruning (see tinynets/search.py).

Hydra only instantiates sweepers that live in the `hydra_plugins` namespace package, so this
thin shell is here; it is imported at every Hydra start, so it stays light (no optuna import).
Pruners are a config group like the plugin's samplers: `hydra/sweeper/pruner=median` (the
default of hparams_search=arch_search), `percentile`, `threshold`, `successive_halving`,
`hyperband`, `nop`; their fields are optuna's arguments (`hydra.sweeper.pruner.n_warmup_steps=2`)."""

from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from omegaconf import MISSING, DictConfig


@dataclass
class PrunerConfig:
    _target_: str = MISSING


@dataclass
class NopPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConfig(MedianPrunerConfig):
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0


@dataclass
class ThresholdPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: Optional[float] = None
    upper: Optional[float] = None
    n_warmup_steps: int = 0
    interval_steps: int = 1


@dataclass
class SuccessiveHalvingPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class TinynetsOptunaSweeperConf(OptunaSweeperConf):
    _target_: str = "hydra_plugins.tinynets_optuna_sweeper.tinynets_optuna_sweeper.TinynetsOptunaSweeper"
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    # built in each trial's job, which reports its per-epoch val accuracy to it
    pruner: Any = MISSING


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="tinynets_optuna", node=TinynetsOptunaSweeperConf, provider="tinynets")
for _name, _node in (("nop", NopPrunerConfig), ("median", MedianPrunerConfig), ("percentile", PercentilePrunerConfig),
                     ("threshold", ThresholdPrunerConfig), ("successive_halving", SuccessiveHalvingPrunerConfig),
                     ("hyperband", HyperbandPrunerConfig)):
    cs.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="tinynets")


class TinynetsOptunaSweeper(Sweeper):
    def __init__(self, sampler: Any, direction: Any, storage: Optional[Any], study_name: Optional[str],
                 n_trials: int, n_jobs: int, max_failure_rate: float, search_space: Optional[DictConfig],
                 custom_search_space: Optional[str], params: Optional[DictConfig], pruner: Any = None) -> None:
        from tinynets.search import sweeper_impl

        self.sweeper = sweeper_impl(sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                                    search_space, custom_search_space, params, pruner=pruner)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        return self.sweeper.sweep(arguments)
