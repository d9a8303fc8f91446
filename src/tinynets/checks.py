"""Checks on a composed config: one clear line (tinynets.errors.ConfigError) naming the key, the bad
value and what is allowed, before anything is trained or written. Generic: the rules every run has
(`RULES`), and the checks a config option contributes under `checks:` (the backprop sheet's task and
model contribute the sheet's own, tinynets.backprop.runner.check_config), run first; and before a
multirun starts, that every option its sweep names for a config group exists (`check_sweep_overrides`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from tinynets.data import PADDING
from tinynets.errors import ConfigError, fail

_MISSING = object()


def is_finite_number(v: Any) -> bool:
    """An int or float that is neither a bool nor NaN nor infinite (a value a record or a rule can use)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def number(lo: float | None = None, hi: float | None = None, *, lo_open=False, hi_open=False,
           integer: bool = False) -> tuple[Callable[[Any], bool], str]:
    """A (predicate, description) pair for a number in a range."""
    def ok(v: Any) -> bool:
        if not (is_int(v) if integer else is_finite_number(v)):
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return not (hi is not None and (v >= hi if hi_open else v > hi))

    kind = "an integer" if integer else "a number"
    if lo is not None and hi is not None:
        desc = f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        desc = f"{kind} {'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        desc = f"{kind} {'<' if hi_open else '<='} {hi:g}"
    else:
        desc = kind
    return ok, desc


def numbers(n: int) -> tuple[Callable[[Any], bool], str]:
    """A (predicate, description) pair for a list of exactly n finite numbers."""
    def ok(v: Any) -> bool:
        return isinstance(v, (list, tuple, ListConfig)) and len(v) == n and all(is_finite_number(x) for x in v)

    return ok, f"a list of {n} numbers, e.g. [{', '.join(['0.1'] * n)}]"


# key -> rule; a key absent from the composed config is not checked
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": number(0, lo_open=True),
    "seed": number(0, integer=True),
    "target_acc": number(0, 100, lo_open=True),
    "max_params": number(1, integer=True),
    "dropout.p": number(0, 1, hi_open=True),
    "trainer.max_epochs": number(1, integer=True),
    "data.batch_size": number(1, integer=True),
    "data.eval_batch_size": number(1, integer=True),
    "data.val_split": number(0, 59_999, integer=True),
    "data.augment.rotation": number(0, 180),
    "data.augment.translate": number(0, 0.5),
    "data.augment.scale": number(0, 0.5, hi_open=True),
    "data.augment.p": number(0, 1),
    "data.augment.padding": (lambda v: v in PADDING, " or ".join(PADDING)),
    "data.augment.brightness": number(0, 1),
    "data.augment.contrast": number(0, 1),
    "data.augment.photometric_p": number(0, 1),
    "channels_last": (lambda v: isinstance(v, bool), "true or false"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
    "label_smoothing": number(0, 1, hi_open=True),
    "resume": (lambda v: isinstance(v, bool), "true or false"),
}


class BuildError(ConfigError):
    """A config group whose object cannot be built: the library's own message, on one line."""

    def __init__(self, key: str, value: Any, error: BaseException) -> None:
        inner = error.__cause__ or error  # hydra.utils.instantiate wraps the library's exception
        text = " ".join(str(inner).split()) or type(inner).__name__
        super().__init__(key, value, f"it cannot be built ({type(inner).__name__}: {text[:300]})")


def _raw(cfg: DictConfig, key: str) -> Any:
    """A value as written, interpolation unresolved (None when there is no such key)."""
    parent_key, _, last = key.rpartition(".")
    try:
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        node = parent._get_node(last)
        return node._value() if node is not None else None
    except Exception:  # noqa: BLE001 - only for the message
        return None


def check(cfg: DictConfig, rules: dict[str, tuple[Callable[[Any], bool], str]] = RULES) -> None:
    """Raise ConfigError for the first value that breaks its rule, or that cannot be resolved. The
    checks the chosen options contribute (`checks:`) come first: they know their own keys, and why
    a value of theirs would not resolve."""
    from hydra.utils import get_method

    for path in (OmegaConf.select(cfg, "checks", default=None) or {}).values():
        if path:
            get_method(str(path))(cfg)  # e.g. checks.backprop_sheet: tinynets.backprop.runner.check_config
    check_resolves(cfg)
    check_rules(cfg, rules)


def check_resolves(cfg: DictConfig) -> None:
    """Every interpolation resolves, or a ConfigError names the first key that does not."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "config"
        msg = " ".join(str(e).splitlines()[0].split())
        raise ConfigError(key, _raw(cfg, key), f"it cannot be resolved ({msg})") from None


def check_rules(cfg: DictConfig, rules: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    """Each key of `rules` that the config has must pass its rule (a resolved config)."""
    for key, (ok, allowed) in rules.items():
        value = OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)
        if value is _MISSING:
            continue
        if not ok(value):
            raise ConfigError(key, value, f"must be {allowed}")


class OverBudget(ConfigError):
    """A model over `max_params` (a search prunes such a trial instead of failing it)."""

    def __init__(self, model_name: str, params: int, max_params: int) -> None:
        self.params, self.max_params = params, max_params
        super().__init__("model", model_name, f"it has {params:,} params, over max_params={max_params}")


def check_params(model_name: str, params: int, max_params: int) -> None:
    if params > max_params:
        raise OverBudget(model_name, params, max_params)


def check_sweep_overrides(config) -> None:
    """Before a multirun starts: every option a sweep names for a config group must exist
    (Hydra would only find out when it composes that job, after the others ran)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not GlobalHydra.instance().is_initialized():
        return
    loader = GlobalHydra.instance().config_loader()
    from omegaconf import OmegaConf

    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)  # as typed: no interpolation
    overrides = OverridesParser.create().parse_overrides([str(o) for o in task])
    for o in overrides:
        if not o.is_sweep_override() or o.is_delete() or not o.is_choice_sweep():
            continue
        group = o.key_or_group
        options = loader.get_group_options(group)
        if not options:
            continue  # not a config group
        for value in o.sweep_string_iterator():
            if value not in options and value != "null":
                fail(ConfigError(group, value, f"one of {', '.join(sorted(options))}"))
