"""task=instant (conf/task/instant.yaml): a search trial that trains nothing, so that many workers can
share a small machine while what is measured is the study (asks, tells, heartbeats, the lock), not
training. Its record is an `ok` metrics.json whose `best_val_acc` is a fixed function of the trial's
sampled values (the same configuration always scores the same, different ones differ), written after
`task.seconds` of waiting (0: at once). Imports neither torch nor Lightning. Used by `make bench-search`
and tests/search/test_scale.py; a real search never selects it."""

from __future__ import annotations

import hashlib
import time

from omegaconf import DictConfig

from tinynets.checks import is_finite_number
from tinynets.config import output_dir, task_overrides
from tinynets.errors import ConfigError
from tinynets.overrides import key_value
from tinynets.run.metrics import OK, write_metrics
from tinynets.search.trial import TRIAL_KEY

IGNORED = (TRIAL_KEY, "seed", "hydra.")  # not part of a configuration's identity


def score(overrides: list[str]) -> float:
    """A value in [90, 99.5) from the configuration's overrides, order-free."""
    kept = sorted(o.lstrip("+~") for o in overrides if not key_value(o.lstrip("+~"))[0].startswith(IGNORED))
    digest = hashlib.sha256("\n".join(kept).encode()).digest()
    return round(90 + 9.5 * int.from_bytes(digest[:8], "big") / 2**64, 4)


def objective(cfg: DictConfig) -> float:
    seconds = cfg.task.get("seconds", 0.0)
    if not is_finite_number(seconds) or seconds < 0:
        raise ConfigError("task.seconds", seconds, "a number of seconds >= 0")
    t0 = time.perf_counter()
    time.sleep(float(seconds))
    overrides = task_overrides()
    value = score(overrides)
    write_metrics(output_dir(cfg), {"status": OK, "task": "instant", "best_val_acc": value, "overrides": overrides,
                                    "wall_s": round(time.perf_counter() - t0, 4)})
    return value
