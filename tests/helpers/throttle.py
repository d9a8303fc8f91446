"""Test-only Lightning callbacks, put in a run by the tests with `+callbacks.NAME={_target_: tests.helpers.throttle.X, ...}`
(the checkout on PYTHONPATH): a slow-down that reports progress, and an injected crash."""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class Throttle(Callback):
    """Sleeps after every training batch and appends `<epoch> <batch>` (from 0) to `progress`,
    so that a test can kill the run in the middle of an epoch. Draws no random numbers."""

    def __init__(self, progress: str, sleep: float = 0.3) -> None:
        self.progress, self.sleep = Path(progress), sleep

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        with open(self.progress, "a") as f:
            f.write(f"{trainer.current_epoch} {batch_idx}\n")
        time.sleep(self.sleep)


class CrashAt(Callback):
    """Raises at the start of epoch `epoch` (from 0) while the file `marker` exists and names `model`."""

    def __init__(self, epoch: int, marker: str, model: str) -> None:
        self.epoch, self.marker, self.model = epoch, Path(marker), model

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch and self.marker.exists() \
                and self.model in self.marker.read_text().split():
            raise RuntimeError(f"injected crash at epoch {self.epoch + 1}")


class Beacon(Callback):
    """Sleeps after every training batch and appends `<pid> <run dir>` to `path`: which process runs
    which trial right now, so that a test can kill a search worker in the middle of a trial."""

    def __init__(self, path: str, sleep: float = 0.3) -> None:
        self.path, self.sleep = Path(path), sleep

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        import os

        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {trainer.default_root_dir}\n")
        time.sleep(self.sleep)
