"""The LightningModule that trains any of the CNNs on MNIST."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassStatScores


class Classifier(L.LightningModule):
    """Cross-entropy classification of `net`'s logits.

    `optimizer` is a partial taking the parameters (the `optimizer` config group);
    `scheduler` is `{"fn": partial taking the optimizer, or None, "interval": "epoch"|"step"}`
    (the `scheduler` group). A scheduler taking `total_steps` (OneCycle) gets it from the
    trainer. `channels_last` stores conv weights channels-last; `compile` runs the net through
    `torch.compile`; `label_smoothing` is the training loss's (evaluation reports plain
    cross-entropy). Logs train/loss, train/acc, val/loss, val/acc (percent) and lr per epoch; the
    test pass also keeps the confusion matrix and the misclassified digits for the end-of-run figures."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Mapping | None = None,
        num_classes: int = 10,
        channels_last: bool = False,
        compile: bool = False,
        label_smoothing: float = 0.0,
        writeup: Mapping | None = None,  # conf/model/*.yaml's write-up id and claim: read by reports, not here
    ) -> None:
        super().__init__()
        # channels-last weights make the CPU (oneDNN) and GPU convs of these small nets faster
        # (`make bench`'s channels_last=false option, docs/speed.md); the maths is unchanged
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        if compile:  # in place: the state dict (and checkpoints) keep their keys
            self.net.compile()
        self.label_smoothing = label_smoothing
        self.optimizer_fn = optimizer
        self.scheduler_cfg = dict(scheduler or {})
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": metric()
                for stage in ("val", "test")
                for name, metric in (
                    ("acc", lambda: MulticlassAccuracy(num_classes, average="micro")),
                    ("loss", MeanMetric),
                    ("count", lambda: MulticlassStatScores(num_classes, average="micro")),  # correct, total
                )
            }
        )
        self.confmat = MulticlassConfusionMatrix(num_classes)
        self.misclassified: list[tuple[torch.Tensor, int, int]] = []
        self.eval_counts: dict[str, tuple[int, int]] = {}  # stage -> (correct, total)
        self.train_sums = torch.zeros(2)  # (loss x images, correct) over the epoch so far
        self.train_seen = 0  # images in those sums

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        # the epoch's train loss and accuracy (on the augmented batches, dropout on: the write-ups'
        # "train accuracy"), summed on the device (no host sync) and logged once, at the epoch's last
        # step: kept over a `self.log` per step, a visible share of a small net's CPU step when profiled
        n = len(y)
        self.train_sums += torch.stack([loss.detach() * n, (logits.detach().argmax(1) == y).sum().to(loss.dtype)])
        self.train_seen += n
        t = self.trainer
        if t.is_last_batch or 0 < t.max_steps <= t.global_step + 1:
            mean_loss, acc = self.train_sums / self.train_seen
            self.log("train/loss", mean_loss, on_step=False, on_epoch=True, sync_dist=True)
            self.log("train/acc", acc * 100, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_sums, self.train_seen = torch.zeros(2, device=self.device), 0
        # logged here, not by Lightning's LearningRateMonitor: that one refuses runs without a logger
        # (logger=none), where History still records lr in metrics.json, and it renames the tag
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True)

    # -- evaluation -----------------------------------------------------------------------
    def _eval_step(self, stage: str, batch) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, reduction="none")
        self.metrics[f"{stage}_acc"].update(logits, y)
        self.metrics[f"{stage}_loss"].update(loss)
        self.metrics[f"{stage}_count"].update(logits, y)
        return logits

    def _eval_epoch_end(self, stage: str) -> None:
        acc = self.metrics[f"{stage}_acc"].compute() * 100
        tp, _, _, _, support = self.metrics[f"{stage}_count"].compute().tolist()
        self.eval_counts[stage] = (int(tp), int(support))
        self.log(f"{stage}/acc", acc)
        self.log(f"{stage}/loss", self.metrics[f"{stage}_loss"].compute())
        for name in ("acc", "loss", "count"):
            self.metrics[f"{stage}_{name}"].reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self.confmat.reset()
        self.misclassified = []

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        pred = self._eval_step("test", batch).argmax(1)
        self.confmat.update(pred, y)
        wrong = (pred != y).nonzero().flatten()[: max(0, 64 - len(self.misclassified))]
        self.misclassified += [(x[i].cpu(), int(y[i]), int(pred[i])) for i in wrong]

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = self.optimizer_fn(params=self.parameters())
        fn = self.scheduler_cfg.get("fn")
        if fn is None:
            return optimizer
        kwargs = {}
        target = getattr(fn, "func", fn)
        if "total_steps" in inspect.signature(target).parameters and "total_steps" not in getattr(fn, "keywords", {}):
            kwargs["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = fn(optimizer, **kwargs)
        interval = self.scheduler_cfg.get("interval", "epoch")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
