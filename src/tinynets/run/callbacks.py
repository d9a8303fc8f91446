"""Every Lightning callback of ours. Chosen in conf/callbacks/ (TestFigures), or always on in a
classifier's run (tinynets.run.assemble.assemble adds them; conf/callbacks/default.yaml lists them):
History, Curves, EpochSeed, DivergenceGuard, RunIdentity, and OptunaPruning in a search trial."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from tinynets.process import seconds_since_start
from tinynets.run.metrics import EVAL_LABELS

log = logging.getLogger("tinynets")




def _float(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None else float(value)


class History(Callback):
    """One record per epoch: train loss, eval loss and accuracy, lr, wall seconds.

    Prints `[Epoch 14] loss=0.0391 | val loss=0.0193 acc=9941/10000 (99.41%) on test` and
    lives in checkpoints, so a resumed run keeps the epochs it had already done."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self.records: list[dict[str, Any]] = []
        self._t0 = 0.0
        self.first_step_s: float | None = None  # from the command (process start) to the first step's end

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.first_step_s is None:
            t = seconds_since_start()
            self.first_step_s = None if t is None else round(t, 2)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        correct, total = getattr(pl_module, "eval_counts", {}).get("val", (None, None))
        rec = {
            "epoch": trainer.current_epoch + 1,
            "train_loss": _float(m, "train/loss"),
            "train_acc": _float(m, "train/acc"),
            "val_loss": _float(m, "val/loss"),
            "val_acc": _float(m, "val/acc"),
            "val_correct": correct,
            "val_total": total,
            "lr": _float(m, "lr"),
            "seconds": round(time.perf_counter() - self._t0, 3),
        }
        self.records.append(rec)
        if self.verbose:
            log.info(self.line(rec, getattr(trainer.datamodule, "eval_set", "val")))

    @staticmethod
    def line(rec: dict[str, Any], eval_set: str) -> str:
        loss = rec["train_loss"]  # None where the epoch was cut short (a stop before its last step)
        text = f"[Epoch {rec['epoch']}] loss=" + ("n/a" if loss is None else f"{loss:.4f}")
        if rec["val_acc"] is not None:
            text += (f" | val loss={rec['val_loss']:.4f} acc={rec['val_correct']}/{rec['val_total']}"
                     f" ({rec['val_acc']:.2f}%) on {eval_set}")
        return text + f" | {rec['seconds']:.1f}s"

    def state_dict(self) -> dict[str, Any]:
        return {"records": self.records}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.records = list(state_dict["records"])


class Curves(Callback):
    """`curves.png` in the run dir: train and eval loss and accuracy per epoch (two panels, the
    `target_acc` line), rewritten atomically at every epoch end from `history`'s records, so a
    killed run keeps its curves up to its last finished epoch (and a resumed one goes on)."""

    def __init__(self, path, history: History, target_acc: float | None = None) -> None:
        self.path, self.history, self.target_acc = path, history, target_acc

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.history.records:
            return
        from tinynets.files import save_figure
        from tinynets.run import figures as plots

        eval_set = getattr(trainer.datamodule, "eval_set", "val")
        save_figure(plots.curves(self.history.records, self.target_acc, EVAL_LABELS.get(eval_set, eval_set)),
                   self.path)


class TestFigures(Callback):
    """After the test pass: a confusion-matrix figure and a grid of misclassified test digits
    (true -> predicted) in TensorBoard's IMAGES tab."""

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        experiment = getattr(trainer.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_figure"):
            return
        from tinynets.run import figures as plots

        step = trainer.global_step
        experiment.add_figure("test/confusion_matrix", plots.confusion_matrix(pl_module.confmat.compute().cpu()), step)
        if pl_module.misclassified:
            experiment.add_figure("test/misclassified", plots.misclassified(pl_module.misclassified), step)
        experiment.flush()


class EarlyStop(Callback):
    """A search trial's stop after an epoch's validation: `stop` takes rank 0's decision to every DDP
    rank and remembers the epoch and the monitored value; `reason` says why (None when it never stopped)."""

    def __init__(self, monitor: str = "val/acc") -> None:
        self.monitor = monitor
        self.pruned_epoch: int | None = None
        self.pruned_value: float | None = None

    def stop(self, trainer: L.Trainer, decided: bool, value: Any) -> None:
        if trainer.strategy.broadcast(bool(decided), src=0):
            self.pruned_epoch, self.pruned_value = trainer.current_epoch + 1, float(value)
            trainer.should_stop = True

    @property
    def reason(self) -> str | None:
        return None if self.pruned_epoch is None else self.why()

    def why(self) -> str:
        raise NotImplementedError


class OptunaPruning(EarlyStop):
    """Reports `monitor` to the Optuna trial after each epoch's validation and stops the run
    when the study's pruner says so (rank 0 decides, every DDP rank stops)."""

    def __init__(self, trial, monitor: str = "val/acc") -> None:
        super().__init__(monitor)
        self.trial = trial

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        prune = False
        if value is not None and trainer.is_global_zero:
            with warnings.catch_warnings():  # a seed-robust trial: the first seed to reach an epoch reports it
                warnings.filterwarnings("ignore", message=".*is already reported")
                self.trial.report(float(value), step=trainer.current_epoch + 1)
            prune = bool(self.trial.should_prune())
        self.stop(trainer, prune, value)

    def why(self) -> str:
        name = type(self.trial.study.pruner).__name__
        return f"by {name} at epoch {self.pruned_epoch} ({self.monitor}={self.pruned_value:.2f})"


class FloorStop(EarlyStop):
    """A search trial's early-stop rule where Optuna's pruners do not apply (a multi-objective study):
    after epoch `epoch`, a val accuracy below `value` stops the run (rank 0 decides, every rank stops)."""

    def __init__(self, epoch: int, value: float, monitor: str = "val/acc") -> None:
        super().__init__(monitor)
        self.epoch, self.value = epoch, value

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        self.stop(trainer, value is not None and trainer.current_epoch + 1 == self.epoch and float(value) < self.value,
                  value)

    def why(self) -> str:
        return f"below the floor at epoch {self.pruned_epoch} ({self.monitor}={self.pruned_value:.2f} < {self.value:g})"


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
    (raises tinynets.run.resume.Diverged; under DDP every rank stops at the same step)."""

    def __init__(self) -> None:
        self._batch_idx = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss) -> None:
        import torch

        from tinynets.run.resume import Diverged

        bad = not bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            raise Diverged(trainer.current_epoch + 1, self._batch_idx + 1, float(loss.detach()))


class RunIdentity(Callback):
    """Keeps, in every checkpoint, what run made it: model name, params, overrides and the run's
    `.hydra/*.yaml` (tinynets.run.resume compares them before resuming, and puts the files back
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
        pass  # this run's identity stands (tinynets.run.resume checked it against the checkpoint's)
