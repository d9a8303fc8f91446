"""Helpers for the sweep, search and reliability tests: `python train.py ...` in this process
(Lightning is imported once for the whole session) or in a subprocess, on one thread, and
readers for what a sweep leaves.

One thread: these trainings are a few batches of 32 tiny images, where torch's second thread
buys nothing on a quiet machine and costs a lot on a busy one (measured here, with two other
trainings on the 2 cores: 13.6 s -> 3.3 s for a debug=fast job)."""

from __future__ import annotations

import io
import logging
import runpy
import subprocess
import sys
from contextlib import redirect_stderr

import pytest
from hydra.core.global_hydra import GlobalHydra

from tests.helpers import ROOT, cli_env
from tinynets.files import read_csv  # noqa: F401  (the sweep tests read leaderboards with it)


def train_inprocess(*args: str) -> tuple[int, str]:
    """`python train.py <args>` in this process; returns (exit status, stderr)."""
    GlobalHydra.instance().clear()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    old_argv, err = sys.argv, io.StringIO()
    sys.argv = [str(ROOT / "train.py"), *args]
    code = 0
    try:
        with redirect_stderr(err):
            runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old_argv
        GlobalHydra.instance().clear()
        for h in root.handlers:  # Hydra's job logging: files in tmp dirs, streams of this test
            if h not in handlers:
                h.close()
        root.handlers[:], root.level = handlers, level
    return code, err.getvalue()


def run_train(*args: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """`python train.py <args>` in a subprocess, on one thread per process."""
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=cli_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def run_single(cfg, capsys) -> tuple[int, str]:
    """tinynets.run.classify.run on a composed config, as a single run: (exit status, stderr)."""
    from tinynets.run.task import run

    with pytest.raises(SystemExit) as e:
        run(cfg)
    return e.value.code, capsys.readouterr().err
