"""Test helpers shared by every test package (the fixtures are in tests/conftest.py): where the
checkout is, the overrides of a small run and of a small search (once, here), tiny synthetic MNIST-format
data, and a command run as a user runs it.

helpers/sweeps.py runs train.py in-process or as a subprocess and reads what a sweep leaves,
helpers/digits.py renders digit-shaped data, helpers/throttle.py holds the callbacks tests inject into
runs (`_target_: tests.helpers.throttle.X`), helpers/fake_source_train.py is a script tests spawn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


# a small run on tiny data: a few batches of one epoch (debug=fast), no MD5 check of the synthetic files, no
# figures of the test set (a matplotlib grid of 64 digits costs more than the training here)
SMALL_RUN = ("debug=fast", "data.verify=false", "~callbacks.test_figures")
# a search's architecture fixed but c2 and c3 (sizes 1,3xx to 2,9xx params) and a recipe for tiny data
FIXED_ARCH = ("model.net.c1=4", "model.net.n1=1", "model.net.n2=1", "model.net.n3=1", "model.net.transition=true",
              "model.net.head=gap_conv")
TINY_RECIPE = ("lr=0.05", "dropout.p=0.05", "scheduler.fn.pct_start=0.2", "data.augment.rotation=0",
               "data.batch_size=32")
FIXED = (*FIXED_ARCH, *TINY_RECIPE, "data.val_split=64")


def tiny(data: Path, *more: str) -> tuple[str, ...]:
    """The overrides of a small run (SMALL_RUN) on the tiny data in `data` (the tiny_mnist fixture), then `more`."""
    return (*SMALL_RUN, f"paths.data_dir={data}", *more)


def tiny_search(data: Path, sweep: Path | str, search: str = "arch_search", *more: str) -> tuple[str, ...]:
    """A search (hparams_search=`search`) of small runs on the tiny data, its sweep dir `sweep`, then `more`."""
    return (f"hparams_search={search}", *tiny(data), f"hydra.sweep.dir={sweep}", *more)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a tinynets command run by a test: this checkout's src (and tests, for the
    callbacks tests inject) importable, warnings off, one torch thread, then `extra`."""
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": "1", **extra}


def write_idx(path: Path, array: np.ndarray) -> None:
    from tinynets.data.prepare import idx_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(idx_bytes(array))


def synthetic_mnist(root: Path, n_train: int = 256, n_test: int = 128, seed: int = 0) -> Path:
    """Tiny MNIST-format IDX files (tinynets.data.prepare.synthetic_mnist, the bench's --quick data too).
    Returns `<root>/MNIST/raw`."""
    from tinynets.data.prepare import synthetic_mnist as make

    return make(root, n_train, n_test, seed)


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <args>` as a user would run it, from the repo root."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a whole PNG file; an error when the file is not one (cut short, another format)."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG", f"{path}: {im.format}"
        im.load()  # decodes every pixel: a truncated file raises here
        return im.size
