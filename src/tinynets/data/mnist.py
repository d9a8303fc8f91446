"""MNIST as one uint8 tensor per split: index batches, on-device normalisation and augmentation.

No per-image PIL work and no worker processes: a batch is an index into the split's tensor,
moved to the training device once (the whole split lives there when it is a GPU), then
normalised and augmented as a whole in `on_after_batch_transfer`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import lightning as L
import torch

from tinynets.data import MEAN, STD
from tinynets.data.augment import augment as augment_batch
from tinynets.data.prepare import DataError, check_idx_files, prepare_mnist, raw_dir

log = logging.getLogger(__name__)

SPLIT_SEED = 12345  # the holdout split is fixed, whatever the training seed


class TensorBatches:
    """Batches of (images, labels) drawn from two tensors; reshuffled each epoch by (seed, epoch).
    Kept over a DataLoader: a batch is one index into a tensor already on the device, with no
    per-image collate and no worker processes (faster: `make bench`, (b) against (a)).

    Under DDP (`world_size` > 1) each rank takes its own shard of the epoch's order: a shuffled
    (training) split is cut into equal shards, so every rank runs the same number of steps
    (the last `n % world_size` images of the epoch's order are left out); an unshuffled
    (evaluation) split is dealt round-robin, every image once (the metrics sync across ranks)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, epoch
        self.rank, self.world_size = rank, world_size

    def _shard_size(self) -> int:
        n, w = len(self.y), self.world_size
        if w == 1:
            return n
        return n // w if self.shuffle else len(range(self.rank, n, w))

    def __len__(self) -> int:
        return math.ceil(self._shard_size() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self._shard_size()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch())
            order = torch.randperm(len(self.y), generator=g)
            order = order[self.rank * n : (self.rank + 1) * n].to(self.x.device)
        elif self.world_size > 1:
            order = torch.arange(self.rank, len(self.y), self.world_size, device=self.x.device)
        else:
            order = None
        for i in range(0, n, self.batch_size):
            if order is None:
                yield self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]
            else:
                idx = order[i : i + self.batch_size]
                yield self.x[idx], self.y[idx]


class MNISTData(L.LightningDataModule):
    """The default pipeline (`data=mnist`).

    Per-epoch evaluation runs on the official 10k test set (`eval_set == "test"`) unless
    `val_split=N` holds out N training images (`eval_set == "holdout"`); the test set is then
    only used once, at the end."""

    def __init__(
        self,
        root: str = "data",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_split: int = 0,
        verify: bool = True,
        sources: tuple[str, ...] | list[str] = ("torchvision", "registry"),
        augment: dict | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.root, self.verify, self.sources = root, verify, tuple(sources)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_split, self.seed = val_split, seed
        self.augment = dict(augment or {})
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def eval_set(self) -> str:
        return "holdout" if self.val_split else "test"

    def prepare_data(self) -> None:
        if self.verify:
            prepare_mnist(self.root, self.sources)
            return
        missing = [f for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
                   if not (raw_dir(self.root) / f).exists()]
        if missing:
            raise DataError(f"data.verify=false but {raw_dir(self.root)} lacks {', '.join(missing)}")
        check_idx_files(self.root)  # headers and sizes: a corrupt file is one clear line, not a traceback

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from torchvision.datasets import MNIST

        train, test = (MNIST(self.root, train=t, download=False) for t in (True, False))
        x, y = train.data, train.targets
        if not 0 <= self.val_split < len(y):
            raise DataError(f"data.val_split={self.val_split}: must be in [0, {len(y) - 1}]")
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if self.val_split:
            perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
            hold, keep = perm[: self.val_split], perm[self.val_split :]
            self.splits["val"] = (x[hold], y[hold])
            x, y = x[keep], y[keep]
        self.splits["train"] = (x, y)
        self.splits["test"] = (test.data, test.targets)
        self.splits.setdefault("val", self.splits["test"])
        self.splits = {k: (a.to(device), b.to(device)) for k, (a, b) in self.splits.items()}
        log.info("MNIST: train %d, eval on %s %d, test %d (on %s)", len(self.splits["train"][1]),
                 self.eval_set, len(self.splits["val"][1]), len(self.splits["test"][1]), device)

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _shard(self) -> dict[str, int]:
        t = self.trainer
        return {"rank": t.global_rank, "world_size": t.world_size} if t is not None else {}

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["train"], self.batch_size, True, self.seed, self._epoch, **self._shard())

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["val"], self.eval_batch_size, **self._shard())

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["test"], self.eval_batch_size, **self._shard())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        train = self.trainer is not None and self.trainer.training
        return to_input(x, self.augment if train else None), y


def to_input(x: torch.Tensor, augment: dict | None = None) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> normalised float (N, 1, 28, 28), augmented when `augment` is
    given: tensor ops on x's device (the raw loop of `make bench` runs this same function)."""
    x = x.unsqueeze(1).float().div_(255)
    if augment:
        x = augment_batch(x, **augment)
    return (x - MEAN) / STD

