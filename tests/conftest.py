"""Shared fixtures: Hydra's compose API on conf/ (no subprocess, no Lightning import) and tiny
synthetic MNIST-format data."""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # `make test` runs pytest-xdist workers side by side: each
    # gets its share of the cores, before torch is imported (two trainings left at every core's threads crawl)
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

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


# a test marked with one of these uses that live engine of scripts/local-cluster (tests/helpers/cluster.py
# refuses an unmarked one): all such tests run one after another on one xdist worker, the rest side by side.
# One group for both engines: a test can use both (a search as a SLURM job array on the PostgreSQL study), and
# xdist gives a test one group, so with a group per engine it ran beside the other group's tests: beside an
# outage test that stops the database, or beside a SLURM job that held the node's CPUs its array tasks wait for.
ENGINES = ("postgresql", "slurm")
ENGINES_GROUP = "engines"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    engine_tests = [i for i in items if any(i.get_closest_marker(e) for e in ENGINES)]
    for item in engine_tests:
        item.add_marker(pytest.mark.xdist_group(ENGINES_GROUP))
    # the group first: it is the longest unit of work (about 7 of the suite's 10 minutes on one worker), and
    # handed out last it made the suite's tail; first, the other worker takes the rest meanwhile
    first = {id(i) for i in engine_tests}
    items[:] = engine_tests + [i for i in items if id(i) not in first]


@pytest.hookimpl(trylast=True)  # after pytest-xdist's worker has suffixed each grouped nodeid with its group
def pytest_collection_finish(session):
    if getattr(session.config.option, "loadgroup", False):
        loose = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if loose:
            raise pytest.UsageError(f"pytest-xdist did not group {loose[0]} (and {len(loose) - 1} more): the live "
                                    "engines' tests would run side by side (pyproject.toml pins the pytest it groups under)")


@pytest.fixture(autouse=True)
def _engine_check(request):
    """The running test, for tests.helpers.cluster's check that a test of a live engine says so."""
    from tests.helpers import cluster

    cluster.RUNNING[:] = [request.node]
    yield
    cluster.RUNNING.clear()
