"""The live engines of scripts/local-cluster for the scale-out tests: the PostgreSQL URL and the SLURM
partition. CI starts both (`.ci/run`) and fails a test that finds one missing; elsewhere the test
skips with the reason and the command that starts them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

STATE = Path(os.environ.get("TINYNETS_CLUSTER_DIR", "/var/lib/tinynets-cluster"))
URL_FILE = Path(os.environ.get("TINYNETS_STORAGE_FILE", STATE / "storage.url"))


RUNNING: list = []  # the running test's node (tests/conftest.py)


def _marked(marker: str, what: str) -> None:
    """A test that uses a live engine carries its marker, so that `make test` runs such tests one at a time."""
    node = RUNNING[0] if RUNNING else None
    if node is not None and node.get_closest_marker(marker) is None:
        pytest.fail(f"{node.nodeid} uses the live {what}: mark it @pytest.mark.{marker} (tests/conftest.py)")


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the {what} tests: scripts/local-cluster up did not leave one running")
    pytest.skip(f"no live {what} here: run scripts/local-cluster up")


def ready(wait_s: float = 15.0) -> bool:
    """pg_isready, given `wait_s` to answer: a server that an outage test has just started again
    (tests/search/test_faults.py) can take a few seconds on a busy machine."""
    deadline = time.monotonic() + wait_s
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def postgres_url() -> str:
    """The live server's URL (with its password)."""
    _marked("postgresql", "PostgreSQL")
    if not (URL_FILE.is_file() and ready()):
        _missing("PostgreSQL")
    return URL_FILE.read_text().strip()


def slurm_partition() -> str:
    """The partition of the live SLURM, with its node up (idle, mixed or allocated)."""
    _marked("slurm", "SLURM")
    partition = os.environ.get("TINYNETS_SLURM_PARTITION", "debug")
    done = subprocess.run(["sinfo", "-h", "-p", partition, "-o", "%t"], capture_output=True, text=True) \
        if shutil.which("sinfo") else None
    if done is None or done.returncode != 0 or not {"idle", "mix", "alloc"} & set(done.stdout.split()):
        _missing("SLURM")
    return partition
