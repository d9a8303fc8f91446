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


class EpochSeed(Callback):
    """Reseeds torch (and Python's, numpy's) RNG at the start of every training epoch from
    (seed, epoch, rank): an epoch's augmentation and dropout then depend on nothing before it,
    so a run resumed from an epoch's checkpoint draws what the uninterrupted run drew."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import random

        import numpy as np
        import torch

        s = (self.seed * 1_000_003 + trainer.current_epoch * 10_007 + trainer.global_rank) % (2**31 - 1)
        torch.manual_seed(s)
        random.seed(s)
        np.random.seed(s)


class DivergenceGuard(Callback):
    """Stops the run at the first NaN or infinite training loss, before it reaches the weights
    (raises tinynets.reliability.Diverged; under DDP every rank stops at the same step)."""

    def __init__(self) -> None:
        self._batch_idx = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss) -> None:
        import torch

        from tinynets.reliability import Diverged

        bad = not bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            raise Diverged(trainer.current_epoch + 1, self._batch_idx + 1, float(loss.detach()))


class RunIdentity(Callback):
    """Keeps, in every checkpoint, what run made it: model name, params, overrides and the run's
    `.hydra/*.yaml` (tinynets.reliability compares them before resuming, and puts the files back
    when it refuses)."""

    def __init__(self, model: str, params: int, overrides: list[str], run_dir) -> None:
        from pathlib import Path

        hydra_dir = Path(run_dir) / ".hydra"
        files = {}
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            try:
                files[name] = (hydra_dir / name).read_text()
            except OSError:
                pass
        self.state = {"model": model, "params": int(params), "overrides": list(overrides), "hydra_files": files}

    def state_dict(self) -> dict:
        return dict(self.state)

    def load_state_dict(self, state_dict: dict) -> None:
        pass  # this run's identity stands (tinynets.reliability checked it against the checkpoint's)
