"""Lightning callbacks of ours: the per-epoch history (printed in the write-ups' style), the
run's curves.png (rewritten every epoch) and the end-of-run TensorBoard figures."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from tinynets.proc import seconds_since_start

log = logging.getLogger("tinynets")

EVAL_LABELS = {"test": "official 10k test set", "holdout": "holdout split of train"}


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
        text = f"[Epoch {rec['epoch']}] loss={rec['train_loss']:.4f}"
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
        from tinynets import plots
        from tinynets.files import save_figure

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
        from tinynets import plots

        step = trainer.global_step
        experiment.add_figure("test/confusion_matrix", plots.confusion_matrix(pl_module.confmat.compute().cpu()), step)
        if pl_module.misclassified:
            experiment.add_figure("test/misclassified", plots.misclassified(pl_module.misclassified), step)
        experiment.flush()
