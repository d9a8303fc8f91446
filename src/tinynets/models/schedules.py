"""Learning-rate schedules torch does not ship, for the `scheduler` config group (conf/scheduler/)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from tinynets.errors import ConfigError


def piecewise_linear(optimizer: torch.optim.Optimizer, epochs: Sequence[float], factors: Sequence[float]) -> LambdaLR:
    """lr at epoch e (0-based) = the optimizer's lr x the factor linearly interpolated at e between
    the points (epochs[i], factors[i]) (constant past the last), stepped once per epoch: the
    one-cycle of woolly-of-cv's 3,762-param net is epochs [0, 2, 8, 15], factors [0.5, 1, 0.1, 0]."""
    if len(epochs) != len(factors) or len(epochs) < 2 or list(epochs) != sorted(epochs):
        raise ConfigError("scheduler.fn.epochs", list(epochs), f"two or more increasing epochs, as many as "
                          f"scheduler.fn.factors ({len(factors)})")
    xs, ys = [float(e) for e in epochs], [float(f) for f in factors]
    return LambdaLR(optimizer, lambda epoch: float(np.interp(epoch, xs, ys)))
