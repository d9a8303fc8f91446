"""Lightning callbacks the training adds on its own (not config-chosen): Optuna pruning in a
search."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback


class OptunaPruning(Callback):
    """Reports `monitor` to the Optuna trial after each epoch's validation and stops the run
    when the study's pruner says so (rank 0 decides, every DDP rank stops)."""

    def __init__(self, trial, monitor: str = "val/acc") -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_epoch: int | None = None
        self.pruned_value: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        prune = False
        if value is not None and trainer.is_global_zero:
            self.trial.report(float(value), step=trainer.current_epoch + 1)
            prune = bool(self.trial.should_prune())
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_epoch, self.pruned_value = trainer.current_epoch + 1, float(value)
            trainer.should_stop = True

    @property
    def reason(self) -> str | None:
        if self.pruned_epoch is None:
            return None
        name = type(self.trial.study.pruner).__name__
        return f"by {name} at epoch {self.pruned_epoch} ({self.monitor}={self.pruned_value:.2f})"
