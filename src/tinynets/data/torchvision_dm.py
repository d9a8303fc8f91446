"""The write-ups' classic pipeline (`data=mnist_torchvision`): torchvision `DataLoader` + `transforms`.

Same files, same splits, same normalisation and the affine augmentation options of `data=mnist`
(rotation, translate, scale, p; the others are refused), applied per image with PIL by worker processes. Kept for comparison (see `make bench`)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Subset

from tinynets.data.mnist import MEAN, SPLIT_SEED, STD, MNISTData
from tinynets.errors import ConfigError

UNSUPPORTED = {"padding": "zeros", "brightness": 0.0, "contrast": 0.0}  # data=mnist's options this one refuses


class MNISTTorchvision(MNISTData):
    def __init__(self, *args, num_workers: int = 2, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_workers = num_workers

    def _transforms(self, train: bool):
        from torchvision import transforms as T

        aug = self.augment if train else {}
        for key, default in UNSUPPORTED.items():  # per-image PIL transforms of data=mnist's batched ones
            if aug.get(key, default) != default:
                raise ConfigError(f"data.augment.{key}", aug[key], f"data=mnist_torchvision supports rotation, "
                                  f"translate, scale and p only: leave it at {default!r} or use data=mnist")
        rot, tr, sc = aug.get("rotation", 0.0), aug.get("translate", 0.0), aug.get("scale", 0.0)
        steps = []
        if rot or tr or sc:
            affine = T.RandomAffine(rot, translate=(tr, tr) if tr else None, scale=(1 - sc, 1 + sc) if sc else None,
                                    interpolation=T.InterpolationMode.BILINEAR)
            p = aug.get("p", 1.0)
            steps.append(affine if p >= 1 else T.RandomApply([affine], p=p))
        return T.Compose([*steps, T.ToTensor(), T.Normalize((MEAN,), (STD,))])

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from torchvision.datasets import MNIST

        train = MNIST(self.root, train=True, download=False, transform=self._transforms(True))
        train_eval = MNIST(self.root, train=True, download=False, transform=self._transforms(False))
        test = MNIST(self.root, train=False, download=False, transform=self._transforms(False))
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(SPLIT_SEED))
        hold, keep = perm[: self.val_split].tolist(), perm[self.val_split :].tolist()
        self.splits = {
            "train": Subset(train, keep) if self.val_split else train,
            "val": Subset(train_eval, hold) if self.val_split else test,
            "test": test,
        }

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(self.splits[split], batch_size=batch_size, shuffle=shuffle, generator=g,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        return batch  # transforms already normalised (and augmented) each image
