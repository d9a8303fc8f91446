"""Shared fixtures: Hydra's compose API on conf/ (no subprocess, no Lightning import) and tiny
synthetic MNIST-format data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import tinynets  # noqa: F401  registers the resolvers conf/ uses (as train.py does)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


@pytest.fixture
def make_cfg(tmp_path):
    """compose conf/train.yaml with overrides, paths pointing into tmp_path, HydraConfig set
    (so `${hydra:...}` interpolations resolve as they do under `python train.py`)."""

    def make(*overrides: str, config_name: str = "train") -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path / "run")
            cfg.hydra.runtime.cwd = str(ROOT)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        (tmp_path / "run").mkdir(exist_ok=True)
        return cfg

    yield make
    GlobalHydra.instance().clear()


def write_idx(path: Path, array: np.ndarray) -> None:
    from tinynets.data.prepare import idx_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(idx_bytes(array))


def synthetic_mnist(root: Path, n_train: int = 256, n_test: int = 128, seed: int = 0) -> Path:
    """Tiny MNIST-format IDX files: each class is a bright square at its own place plus noise,
    so a CNN can learn them in a few steps. Returns `<root>/MNIST/raw`."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"

    def split(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = 2 + (c // 5) * 12, 2 + (c % 5) * 5
            x[i, r : r + 10, col : col + 4] = 255
        return x, y

    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x, y = split(n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    return raw


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A data dir holding synthetic IDX files (use with data.verify=false)."""
    synthetic_mnist(tmp_path / "data")
    return tmp_path / "data"


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <args>` as a user would run it, from the repo root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
