"""Sweeps as a user runs them: `python train.py -m ...` timed from the command to its exit, its jobs'
records read from the sweep dir (`timed_sweep`); and `python -m tinynets.bench sweeps`: the same
6-LR, 1-epoch sweep of the default model with Hydra's basic launcher (one job after another, torch's
threads on every core) and with joblib at 2 jobs of 1 torch thread each, side by side."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench import ROOT
from tinynets.bench.clock import load_conditions, record_header
from tinynets.bench.fast import train_env
from tinynets.process import threads_of
from tinynets.run.metrics import FILE, OK, read_metrics, status_of

LRS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # around the default recipe's lr=0.2
# launcher -> (its overrides, the environment it runs in: None unsets). joblib's workers (loky) take
# OMP_NUM_THREADS from this process when it is set (else cores // n_jobs): 1 torch thread per job
LAUNCHERS: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "basic": ((), {"OMP_NUM_THREADS": None}),
    "joblib": (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), {"OMP_NUM_THREADS": "1"}),
}
LOCAL = ("paths.data_dir=", "data.verify=")  # where this machine keeps the data: not shown in commands


def timed_command(cmd: Sequence[str], env: dict[str, str | None] | None = None) -> float:
    """Run `cmd` from the checkout in the bench's environment (`env` changes: None unsets); its wall
    seconds. A non-zero exit raises with the command and the last 30 lines of its output."""
    t0 = time.perf_counter()
    done = subprocess.run(list(cmd), cwd=ROOT, env=train_env(env), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        tail = "".join((done.stdout + done.stderr).splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{tail}")
    return wall


def timed_sweep(overrides: Sequence[str], sweep_dir: Path, env: dict[str, str | None] | None = None,
                script: Sequence[str] = ("train.py",), expect_jobs: int | None = None) -> dict[str, Any]:
    """`python train.py -m <overrides>` as a user runs it, wall time from the command to its exit;
    each job's metrics.json gives its device (and torch threads on CPU), epochs and epoch seconds.
    With `expect_jobs`, fewer or more job records than that is an error."""
    cmd = [sys.executable, *script, "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    wall = timed_command(cmd, env)
    jobs = [m for p in sorted(Path(sweep_dir).rglob(FILE)) if (m := read_metrics(p.parent)) is not None]
    if expect_jobs is not None and len(jobs) != expect_jobs:
        raise RuntimeError(f"{' '.join(cmd)} left {len(jobs)} job records, not {expect_jobs}")
    devices = sorted({str(j.get("device")) for j in jobs})
    return {
        "train_command": "python train.py -m " + " ".join(o for o in overrides if not o.startswith(LOCAL)),
        "env": {k: v for k, v in (env or {}).items()},
        "wall_s": round(wall, 2),
        "jobs": len(jobs),
        "jobs_ok": sum(status_of(j) == OK for j in jobs),
        "epochs": sum(len(j.get("history") or []) for j in jobs),
        "epochs_s": round(sum(r.get("seconds") or 0 for j in jobs for r in j.get("history") or []), 2),
        "devices": devices,
        "torch_threads": sorted({t for d in devices if (t := threads_of(d))}),
    }


def sweeps(extra: Sequence[str], lrs: Sequence[float], workdir: Path, quick: bool = False,
           argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The same sweep (`lr=<lrs> trainer.max_epochs=1` + `extra`) once with each launcher."""
    before = load_conditions()
    base = [f"lr={','.join(f'{lr:g}' for lr in lrs)}", "trainer.max_epochs=1"]
    launchers = {}
    for name, (overrides, env) in LAUNCHERS.items():
        launchers[name] = {**timed_sweep([*base, *extra, *overrides], workdir / name, env, expect_jobs=len(lrs)),
                           "launcher_overrides": list(overrides)}
    walls = {k: v["wall_s"] for k, v in launchers.items()}
    return {
        **record_header(argv, before, quick=quick),
        "train_command": "python train.py -m " + " ".join(base),
        "lrs": list(lrs),
        "launchers": launchers,
        "faster": min(walls, key=walls.get),
        "joblib_vs_basic": round(walls["basic"] / walls["joblib"], 3),  # > 1: joblib is faster
    }
