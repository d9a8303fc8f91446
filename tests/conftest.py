"""Shared fixtures: Hydra's compose API on conf/ (no subprocess, no Lightning import) and tiny
synthetic MNIST-format data."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import tinynets  # noqa: F401  registers the resolvers conf/ uses (as train.py does)
from tests.helpers import CONF, ROOT, synthetic_mnist


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


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A data dir holding synthetic IDX files (use with data.verify=false)."""
    synthetic_mnist(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def one_thread():
    """torch on one thread for the test (these trainings are a few tiny batches)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
