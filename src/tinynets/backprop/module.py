"""`model=tiny_sigmoid`: the 2-2-2 sigmoid network as a LightningModule with manual
optimisation, and the one-sample data it trains on (`data=sheet_sample`).

One iteration = one training step = one update on the one sample. Step k evaluates the
network with the weights after k updates, records that row of the sheet, hands the
hand-derived gradients to the optimizer (plain SGD: w <- w - lr * dE/dw) and steps; after the
last step the row of the final weights is recorded too, so there are iterations + 1 rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from tinynets.backprop.tiny import (
    FORWARD,
    GRADS,
    WEIGHTS,
    autograd_gradients,
    check_against_autograd,
    forward,
    hand_gradients,
)

DTYPE = torch.float64


class _SameSample(Dataset):
    """The one sample, `iterations` times over."""

    def __init__(self, inputs: Tensor, targets: Tensor, iterations: int) -> None:
        self.sample = (inputs, targets)
        self.iterations = iterations

    def __len__(self) -> int:
        return self.iterations

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < self.iterations:
            raise IndexError(index)
        return self.sample


class SingleSample(L.LightningDataModule):
    """The sheet's single training sample (inputs i1, i2 and targets t1, t2), served once per
    iteration: one epoch of `iterations` steps."""

    def __init__(self, inputs: Sequence[float], targets: Sequence[float], iterations: int) -> None:
        super().__init__()
        self.inputs = torch.tensor(list(inputs), dtype=DTYPE)
        self.targets = torch.tensor(list(targets), dtype=DTYPE)
        self.iterations = int(iterations)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_SameSample(self.inputs, self.targets, self.iterations), batch_size=None,
                          shuffle=False, num_workers=0)


class TinySigmoid(L.LightningModule):
    """w1..w8 are the trainable parameters; b1 (hidden) and b2 (output) are fixed buffers.

    `rows` collects one dict per iteration with every column of sheet.csv; `check_autograd`
    compares the hand gradients with autograd at every step and raises GradientMismatch
    beyond `atol`."""

    def __init__(self, w: Sequence[float], b1: float = 0.0, b2: float = 0.0,
                 optimizer: Callable[..., torch.optim.Optimizer] | None = None,
                 check_autograd: bool = True, atol: float = 1e-12) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.w = nn.Parameter(torch.tensor(list(w), dtype=DTYPE))
        self.register_buffer("b1", torch.tensor(float(b1), dtype=DTYPE))
        self.register_buffer("b2", torch.tensor(float(b2), dtype=DTYPE))
        self.optimizer_fn = optimizer
        self.check_autograd = bool(check_autograd)
        self.atol = float(atol)
        self.rows: list[dict[str, float]] = []
        self._sample: tuple[Tensor, Tensor] | None = None

    # -- the sheet's arithmetic ---------------------------------------------------------------
    def evaluate(self, i: Tensor, t: Tensor, iteration: int | None = None):
        """Forward pass and hand gradients at the current weights (autograd-checked)."""
        w = self.w.detach()
        f = forward(w, i, t, self.b1, self.b2)
        grads = hand_gradients(w, i, t, f)
        if self.check_autograd:
            check_against_autograd(grads, autograd_gradients(w, i, t, self.b1, self.b2), self.atol, iteration)
        return f, grads

    def record(self, i: Tensor, t: Tensor, lr: float) -> tuple[dict[str, float], Tensor]:
        """Evaluate at the current weights, append the row, log it; returns (row, gradients)."""
        k = len(self.rows)
        f, grads = self.evaluate(i, t, k)
        row: dict[str, Any] = {"iteration": k, "lr": float(lr), "i1": float(i[0]), "i2": float(i[1]),
                               "t1": float(t[0]), "t2": float(t[1]),
                               "b1": float(self.b1), "b2": float(self.b2)}
        row.update(zip(WEIGHTS, self.w.detach().tolist()))
        fd = f.as_dict()
        row.update((name, float(fd[name])) for name in FORWARD)
        row.update(zip(GRADS, grads.tolist()))
        self.rows.append(row)
        self._log_row(row)
        return row, grads

    def _log_row(self, row: dict[str, float]) -> None:
        """TensorBoard scalars of iteration k at step k (same tags in every run of a sweep)."""
        scalars = {f"loss/{name}": row[name] for name in ("E_total", "E1", "E2")}
        scalars.update((f"weights/{name}", row[name]) for name in WEIGHTS)
        scalars.update((f"grads/{name}", row[name]) for name in GRADS)
        for logger in self.loggers:
            logger.log_metrics(scalars, step=row["iteration"])

    # -- Lightning ----------------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_fn is None:
            raise ValueError("TinySigmoid needs an optimizer (optimizer=sgd_plain)")
        return self.optimizer_fn(params=[self.w])

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        i, t = batch
        self._sample = (i, t)
        opt = self.optimizers()
        _, grads = self.record(i, t, opt.param_groups[0]["lr"])
        opt.zero_grad()
        self.w.grad = grads.clone()  # the hand-derived gradient is what the optimizer applies
        opt.step()

    def on_train_end(self) -> None:
        """The row of the weights after the last update (before the loggers are closed)."""
        if self._sample is None:
            return
        self.record(*self._sample, self.optimizers().param_groups[0]["lr"])
        summary = {"hp/E_total_0": self.rows[0]["E_total"], "hp/E_total_final": self.rows[-1]["E_total"]}
        for logger in self.loggers:
            logger.log_metrics(summary, step=self.rows[-1]["iteration"])
