"""A search's bad input is one `error:` line and exit 2, before any trial or worker starts (issue 32):
a search space Optuna cannot sample, a budget below one trial, and a bad override given to
`python -m tinynets.search.workers N`, checked once for all N workers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT, cli_env

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("override, line", [
    ("model.net.c1=glob(*)", "error: model.net.c1='glob(*)' is not allowed: a search space must be a sweep Optuna "
                             "can sample: choice(a, b, ...)"),
    ("model.net.c1=interval(8,4)", "error: model.net.c1='interval(8,4)' is not allowed: a search space must be"),
    ("hydra.sweeper.n_trials=-1", "error: hydra.sweeper.n_trials=-1 is not allowed: must be a number >= 1"),
])
def test_a_bad_search_is_one_line_before_anything_runs(tmp_path, override, line):
    done = run("train.py", "-m", "hparams_search=frontier", f"hydra.sweep.dir={tmp_path / 's'}", override)
    assert done.returncode == 2 and done.stderr.startswith(line) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "s" / "optuna.db").exists()


@pytest.mark.parametrize("override", ["lr=abc", "model.net.c9=choice(1,2)", "nokey=1"])
def test_workers_check_a_bad_override_once_before_any_worker_starts(tmp_path, override):
    done = run("-m", "tinynets.search.workers", "3", "hparams_search=frontier", f"hydra.sweep.dir={tmp_path / 's'}",
               override)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.count("error:") == 1 and done.stderr.count("\n") == 1, done.stderr
    assert override.split("=")[0] in done.stderr and "[worker" not in done.stdout + done.stderr
    assert not list((tmp_path / "s").glob("trial=*"))
