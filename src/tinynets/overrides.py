"""Hydra override strings (`key=value`, `+key=value`, `++key=value`, `~key`) read as keys and values:
the one parser for every place that reads the overrides of a run (its record, a resume, the
hyper-parameters shown in TensorBoard, a command line, a results entry). Standard library only."""

from __future__ import annotations

from collections.abc import Iterable

PREFIXES = "+~"  # add (+, ++) and delete (~): the key they act on is the same key


def split(override: str) -> tuple[str, str]:
    """`+a.b=1` -> ("+a.b", "1"): the key and the value as typed ("" when there is no `=`, e.g. `~a.b`)."""
    key, _, value = str(override).partition("=")
    return key, value


def key_value(override: str) -> tuple[str, str]:
    """`+a.b=1` -> ("a.b", "1"): the key without Hydra's prefixes, the value as typed."""
    key, value = split(override)
    return key.lstrip(PREFIXES), value


def as_dict(overrides: Iterable[str]) -> dict[str, str]:
    """key -> value of every override (`key_value`); a key given twice keeps its last value, as in Hydra."""
    return dict(key_value(o) for o in overrides)


def value_of(overrides: Iterable[str], key: str) -> str | None:
    """The value the first override of `key` gives it (`key=v`, `+key=v`, ...), or None when none does."""
    return next((v for o in overrides if "=" in str(o) for k, v in [key_value(o)] if k == key), None)
