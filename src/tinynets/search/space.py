"""A search's space and its parameter budget: Hydra's sweep grammar (`choice`, `range`,
`interval`, `tag(log, ...)`) as Optuna distributions, the exact parameter count of a sampled
architecture (built, never trained), and `BudgetSampler`, which spends every
trial inside `max_params`."""

from __future__ import annotations

import itertools
import logging
import numbers
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf
from optuna.samplers import BaseSampler

from tinynets.errors import ConfigError, one_line
from tinynets.overrides import split

log = logging.getLogger("tinynets.search")


def parse_overrides(arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(distributions of the sweep overrides, fixed `key=value` overrides), keys as written; a key
    given again (the command line after the yaml's params) takes its last value. A sweep Optuna
    cannot sample (glob(...), interval(5, 1)) is a ConfigError."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for o in OverridesParser.create().parse_overrides(arguments):
        key = o.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if not o.is_sweep_override():
            fixed[key] = o.get_value_element_as_str()
            continue
        try:
            space[key] = distribution(o)
        except ValueError as e:  # Optuna's: low > high, a step that does not fit
            raise ConfigError(key, split(o.input_line)[1], f"{SAMPLABLE} ({one_line(e, 200)})") from None
        if space[key] is None:
            raise ConfigError(key, split(o.input_line)[1], SAMPLABLE)
    return space, fixed


def distribution(o) -> Any:
    """The Optuna distribution of one sweep override, or None for a sweep it cannot sample (glob)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = o.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        return CategoricalDistribution(list(o.sweep_iterator(transformer=Transformer.encode)))
    if isinstance(value, RangeSweep):
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        # range(a, b, s) excludes b, as in Python
        return IntDistribution(int(value.start), int(value.stop) - int(value.step), step=int(value.step))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    return None


SAMPLABLE = ("a search space must be a sweep Optuna can sample: choice(a, b, ...), range(start, stop[, step]), "
             "interval(low, high) or tag(log, interval(low, high))")


def enqueue_points(points: Any, space: dict[str, Any]) -> list[dict[str, Any]]:
    """`hydra.sweeper.enqueue` as Optuna params: each point a mapping of searched keys to values inside
    their distributions (a choice's value as written in it). A key the space lacks or a value outside
    it is a ConfigError naming `hydra.sweeper.enqueue[i].key`."""
    out = []
    for i, point in enumerate(points or []):
        if not isinstance(point, dict):
            raise ConfigError(f"hydra.sweeper.enqueue[{i}]", point, "a mapping of searched keys to values")
        params = {}
        for key, value in point.items():
            where = f"hydra.sweeper.enqueue[{i}].{key}"
            if key not in space:
                raise ConfigError(where, value, f"a searched key: {', '.join(sorted(space)) or '(none)'}")
            dist = space[key]
            if hasattr(dist, "choices"):
                match = [c for c in dist.choices if c == value or override_value(c) == override_value(value)]
                if not match:
                    raise ConfigError(where, value, f"one of {', '.join(override_value(c) for c in dist.choices)}")
                params[key] = match[0]
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not dist.low <= value <= dist.high:
                raise ConfigError(where, value, f"a number in [{dist.low}, {dist.high}]")
            integer = type(dist).__name__ == "IntDistribution"
            if integer and not float(value).is_integer():
                raise ConfigError(where, value, f"an integer in [{dist.low}, {dist.high}]")
            params[key] = int(value) if integer else float(value)
        out.append(params)
    return out


def override_value(value: Any) -> str:
    """A sampled value as a Hydra override value (what the job gets on its command line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


class ParamCounter:
    """The exact parameter count of the model a trial would build: the task config with the
    sampled `model.*` values applied and its `model.net` instantiated (counts are cached per
    architecture). None when it cannot be built (the
    job will say why)."""

    def __init__(self, task_cfg: DictConfig, fixed: dict[str, str] | None = None) -> None:
        base = OmegaConf.create(OmegaConf.to_container(task_cfg, resolve=False))
        for key, value in (fixed or {}).items():  # a fixed `model.net.c1=4` of the command line
            if key.lstrip("+~").startswith("model."):
                OmegaConf.update(base, key.lstrip("+~"), _yaml_value(value), merge=True, force_add=True)
        self.base = base
        self.cache: dict[tuple, int | None] = {}

    def __call__(self, params: dict[str, Any]) -> int | None:
        arch = tuple(sorted((k, v) for k, v in params.items() if k.lstrip("+~").startswith("model.")))
        if arch not in self.cache:
            self.cache[arch] = self._count(dict(arch))
        return self.cache[arch]

    def _count(self, arch: dict[str, Any]) -> int | None:
        from hydra.utils import instantiate

        cfg = self.base.copy()
        try:
            for key, value in arch.items():
                OmegaConf.update(cfg, key.lstrip("+~"), value, merge=True, force_add=True)
            net = instantiate(cfg.model.net)
            return int(sum(p.numel() for p in net.parameters()))
        except Exception as e:  # noqa: BLE001 - a knob the net refuses: the job records it
            log.debug("cannot count %s: %s", arch, e)
            return None


def _yaml_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def smallest(space: dict[str, Any], count: Callable[[dict[str, Any]], int | None]) -> tuple[int, dict] | None:
    """The smallest parameter count in the space and its `model.*` values. The count grows with
    every numeric architecture knob (channels, convs), so each numeric knob is taken at its
    lowest value and every combination of the other (bool, string) choices is counted."""
    from optuna.distributions import CategoricalDistribution

    arch = {k: d for k, d in space.items() if k.lstrip("+~").startswith("model.")}
    lowest: dict[str, Any] = {}
    others: dict[str, list[Any]] = {}
    for k, d in arch.items():
        if isinstance(d, CategoricalDistribution):
            if all(isinstance(c, numbers.Number) and not isinstance(c, bool) for c in d.choices):
                lowest[k] = min(d.choices)
            else:
                others[k] = list(d.choices)
        else:
            lowest[k] = d.low
    best: tuple[int, dict] | None = None
    for combo in itertools.product(*others.values()):
        params = {**lowest, **dict(zip(others, combo))}
        n = count(params)
        if n is not None and (best is None or n < best[0]):
            best = (n, params)
    return best


class BudgetSampler(BaseSampler):
    """A sampler that spends its trials inside `max_params`, built on an Optuna sampler.

    For each trial it draws the whole architecture jointly from the base sampler (TPE's
    multivariate proposal, NSGA-II's crossover, random draws in the start-up phase), counts its
    parameters exactly, and draws again while it is over budget (at most `draws` times): the
    trial gets the base sampler's distribution restricted to the budget. The base sampler is made
    afresh per trial with seed + trial number (reproducible, and processes sharing a study do
    not repeat each other's draws). A sample still over budget after `draws` tries is trained
    by no one: its job prunes it and records its count, and the sweeper sets the trial's Optuna
    constraint (params - max_params, > 0: infeasible), from which TPE / NSGA-II learn where the
    budget ends and which keeps it off the Pareto front."""

    def __init__(self, make: Callable[[int | None], BaseSampler], seed: int | None, space: dict[str, Any],
                 count: Callable[[dict[str, Any]], int | None], max_params: int | None, draws: int) -> None:
        self.make, self.seed, self.space, self.count = make, seed, dict(space), count
        self.max_params, self.draws = max_params, draws
        self.bases: dict[int, BaseSampler] = {}
        self.redraws = 0

    def reseed_rng(self) -> None:
        pass  # each trial has its own seed already

    def base(self, number: int):
        if number not in self.bases:
            self.bases = {n: b for n, b in self.bases.items() if n > number - 64}  # keep the recent ones
            self.bases[number] = self.make(None if self.seed is None else self.seed + number)
        return self.bases[number]

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:
        return dict(self.space)

    def _draw(self, study, trial, base, relative_space) -> dict[str, Any]:
        params = dict(base.sample_relative(study, trial, relative_space)) if relative_space else {}
        for name, dist in self.space.items():
            if name not in params:
                params[name] = base.sample_independent(study, trial, name, dist)
        return params

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if trial.system_attrs.get("fixed_params"):  # an enqueued trial (a retry): its params are set
            return {}
        base = self.base(trial.number)
        relative = {k: d for k, d in base.infer_relative_search_space(study, trial).items() if k in self.space}
        params = self._draw(study, trial, base, relative)
        if self.max_params is None:
            return params
        for _ in range(max(self.draws, 1) - 1):
            n = self.count(params)
            if n is None or n <= self.max_params:
                break
            self.redraws += 1
            params = self._draw(study, trial, base, relative)
        return params

    def sample_independent(self, study, trial, name, dist):
        return self.base(trial.number).sample_independent(study, trial, name, dist)

    def before_trial(self, study, trial) -> None:
        self.base(trial.number).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.base(trial.number).after_trial(study, trial, state, values)
