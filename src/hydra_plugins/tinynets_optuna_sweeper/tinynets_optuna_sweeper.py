"""`hydra/sweeper=tinynets_optuna`: tinynets' own Hydra sweeper on Optuna (the loop is tinynets/optuna_sweep.py).

Hydra only instantiates sweepers that live in the `hydra_plugins` namespace package, so this
thin shell is here; it is imported at every Hydra start, so it stays light (no optuna import).
Samplers and pruners are config groups whose fields are Optuna's arguments:
`hydra/sweeper/sampler=tpe|random|grid|nsgaii`, `hydra/sweeper/pruner=median|percentile|
threshold|successive_halving|hyperband|nop` (`hydra.sweeper.pruner.n_warmup_steps=2`)."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig


# ----------------------------------------------------------------------------- samplers
@dataclass
class SamplerConfig:
    _target_: str = MISSING
    seed: Optional[int] = None   # trial N draws with seed + N (reproducible, distinct across processes)


@dataclass
class TPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    n_startup_trials: int = 5    # random draws (within the budget) before TPE models; searches here run 10-20 trials
    n_ei_candidates: int = 24
    multivariate: bool = True
    constant_liar: bool = True   # running trials count as bad: workers sharing a study do not propose them again


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class GridSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.GridSampler"   # every choice(...) combination; the sweeper passes the grid


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: Optional[float] = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


# ----------------------------------------------------------------------------- pruners
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


# ----------------------------------------------------------------------------- the sweeper
@dataclass
class TinynetsOptunaSweeperConf:
    _target_: str = "hydra_plugins.tinynets_optuna_sweeper.tinynets_optuna_sweeper.TinynetsOptunaSweeper"
    _recursive_: bool = False      # the sweeper builds the sampler (one per trial) and each job its pruner
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    sampler: Any = MISSING
    pruner: Any = MISSING          # built in each trial's job, which reports its per-epoch val accuracy to it
    # metric of the job's metrics.json -> maximize | minimize; two or more: a multi-objective study
    objectives: Dict[str, Optional[str]] = field(default_factory=lambda: {"best_val_acc": "maximize"})  # null drops one
    # an Optuna RDB URL (sqlite:///f.db, postgresql+psycopg://...) or journal:<file> (JournalStorage); a URL
    # with a password comes from the environment or a file: ${oc.env:TINYNETS_STORAGE}, ${tinynets.read:FILE}
    storage: Optional[str] = None
    study_name: Optional[str] = None
    n_trials: int = 20             # the study's budget: every process on it together finishes this many trials
    n_jobs: int = 1                # trials asked at once by this process (hydra/launcher=joblib runs them in parallel)
    # RDB storages: a running trial's heartbeat every heartbeat_interval s (0: none); a trial without one for
    # grace_period s is failed by a live process and retried up to max_retry times (null: no limit)
    heartbeat_interval: int = 10
    grace_period: int = 60
    max_retry: Optional[int] = 2
    # a storage that cannot be reached (a restart, a failover) is retried with backoff for up to this many
    # seconds while training goes on; longer ends the worker with one line (the same command again goes on)
    outage_window: float = 120.0
    # true: compose and check the search (its keys, space, storage and study), then exit 0 without running a
    # trial (python -m tinynets.search.workers does this once before starting its workers)
    check_only: bool = False
    # an early stop for searches without a pruner (multi-objective): {epoch: k, val_acc: x} stops a trial
    # whose val accuracy after epoch k is below x; it is recorded as pruned, with its epoch
    floor: Any = None  # (untyped: OmegaConf cannot merge a mapping into a None typed as a Dict)
    max_failure_rate: float = 0.0  # jobs that raise past tinynets' own failure isolation
    # seed-robust trials: each trial trains one job per seed (any worker takes any), is told the mean of each
    # objective over them and records each seed's value, the minimum and the spread (null: one run at `seed`)
    seeds: Optional[List[int]] = None
    # draws of the sampler per trial to find an architecture within max_params (0: sample blind)
    budget_draws: int = 200
    # key -> Hydra sweep grammar: choice(4, 8), interval(0.0, 0.1), tag(log, interval(0.005, 0.2))
    params: Optional[Dict[str, Optional[str]]] = None  # null drops an inherited key
    # points the study tries first, in order ([{lr: 0.2, model.net.c2: 16}, ...]: searched keys, values in
    # their space; a key left out is sampled): enqueued once, when the study has no trial yet
    enqueue: List[Any] = field(default_factory=list)
    # the search's side of a trial's job, given to its run (tinynets.run.trial.search_side): its Optuna trial,
    # the floor rule, the stop when the trial was superseded
    trial_side: str = "tinynets.search.trial.side"


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="tinynets_optuna", node=TinynetsOptunaSweeperConf, provider="tinynets")
for _name, _node in (("tpe", TPESamplerConfig), ("random", RandomSamplerConfig), ("grid", GridSamplerConfig),
                     ("nsgaii", NSGAIISamplerConfig)):
    cs.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="tinynets")
for _name, _node in (("nop", NopPrunerConfig), ("median", MedianPrunerConfig), ("percentile", PercentilePrunerConfig),
                     ("threshold", ThresholdPrunerConfig), ("successive_halving", SuccessiveHalvingPrunerConfig),
                     ("hyperband", HyperbandPrunerConfig)):
    cs.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="tinynets")


class TinynetsOptunaSweeper(Sweeper):
    def __init__(self, **conf: Any) -> None:
        self.conf = conf
        self.impl: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from tinynets.search.sweeper import OptunaSweep

        self.impl = OptunaSweep(config.hydra.sweeper)
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        return self.impl.sweep(arguments)
