"""Test helpers shared by every test package (the fixtures are in tests/conftest.py): where the
checkout is, tiny synthetic MNIST-format data, and a command run as a user runs it.

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
