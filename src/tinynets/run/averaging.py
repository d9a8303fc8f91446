"""Weight averaging for the `averaging` config group (conf/averaging/): Lightning's `WeightAveraging`
callbacks, updated after every optimizer step, BN buffers averaged too. The averaged weights are the
ones validated each epoch, tested, checkpointed (a checkpoint's `state_dict`; the raw weights ride in
`current_model_state` for a resume), and so exported and predicted with.

Two small subclasses only: SWA needs a start (Lightning's default averages from the first step), and a
test or predict pass that loads a checkpoint needs no warning: its `state_dict` is already averaged."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging, WeightAveraging


class _Quiet:
    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._average_model is not None:  # fit (a resume): restore both models
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


class EMA(_Quiet, EMAWeightAveraging):
    """Exponential moving average of the weights: avg <- decay * avg + (1 - decay) * w after each step."""


class SWA(_Quiet, WeightAveraging):
    """Equal-weight average of the weights after every step from `start` x the run's steps on."""

    def __init__(self, start: float = 0.75, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start = start
        self._first_step = 0
        self._swapped = False  # this validation runs on the average (its window has opened)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit":
            self._first_step = int(self.start * trainer.estimated_stepping_batches)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and step_idx >= self._first_step

    # Before its window opens the average holds no step yet (Lightning's copy is the initial weights): until
    # then the live weights are validated, checkpointed and kept, so a floor or "best" judges the training
    def started(self) -> bool:
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swapped = self.started()
        if self._swapped:
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._swapped:
            super().on_validation_epoch_end(trainer, pl_module)
        self._swapped = False

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        if self._average_model is not None and not self.started():
            checkpoint["state_dict"] = checkpoint["current_model_state"]

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started():
            super().on_train_end(trainer, pl_module)
