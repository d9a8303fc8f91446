"""Search workers: N processes on one study, each asking for its next trial as soon as its previous
one ends (no batch barrier), together finishing the study's budget (tinynets.search.study).

    python -m tinynets.search.workers 2 hparams_search=frontier max_params=4000      # 2 local workers
    python -m tinynets.search.workers 8 --slurm --partition gpu --gpus 1 hparams_search=frontier \\
        'hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}'                             # a SLURM job array

A worker is `python -m tinynets.run -m <overrides> hydra.sweeper.n_jobs=1`: the same sweep as one
process would run, on the same sweep dir and study; the leaderboard (and the Pareto front) at the sweep
root covers every worker's trials. Locally each worker gets cores // N torch threads (unless
OMP_NUM_THREADS is set); this command waits for all of them, stops them on Ctrl-C, and exits non-zero
when one did. With --slurm it writes an sbatch script (one worker per array task, at most
--array-parallelism at once) beside the sweep's outputs and submits it; --wait waits for the array.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tinynets.errors import ConfigError, fail
from tinynets.overrides import value_of
from tinynets.process import child_env

WORKER = ("-m", "tinynets.run", "-m")  # then the user's overrides, then ONE_AT_A_TIME
ONE_AT_A_TIME = "hydra.sweeper.n_jobs=1"


def worker_command(overrides: list[str]) -> list[str]:
    return [sys.executable, *WORKER, *overrides, ONE_AT_A_TIME]


CHECK_ONLY = "hydra.sweeper.check_only=true"


def check_once(overrides: list[str]) -> int:
    """The composed config and the search (keys, space, storage, study) checked once, by the worker's
    own command with CHECK_ONLY, before any worker starts: a bad override is one line, not one per worker."""
    env = child_env()
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run([*worker_command(overrides), CHECK_ONLY], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr if done.stderr.strip() else done.stdout[-2000:])
        sys.stderr.flush()
    return done.returncode


def run_local(n: int, overrides: list[str]) -> int:
    """N local workers; the exit status is the worst of theirs."""
    env = child_env()
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    procs = [subprocess.Popen(worker_command(overrides), env=env, start_new_session=True) for _ in range(n)]

    def stop(signum, _frame) -> None:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        sys.exit(128 + signum)  # Ctrl-C: the workers are stopped

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = {i: p.wait() for i, p in enumerate(procs)}
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for i, code in codes.items():
        print(f"[worker {i}] exit {code}", flush=True)
    return max(codes.values(), default=0)


def sbatch_script(args: argparse.Namespace, overrides: list[str], log_dir: Path) -> str:
    """One worker per array task; SLURM's own options from the flags, the worker's command as run here."""
    opts = [f"--job-name={args.job_name}", f"--array=0-{args.workers - 1}%{args.array_parallelism}",
            f"--output={log_dir}/worker-%A_%a.out", f"--cpus-per-task={args.cpus_per_task}",
            f"--mem={args.mem_gb}G", f"--time={args.time_min}", "--requeue"]
    opts += [f"--{k}={v}" for k, v in (("partition", args.partition), ("account", args.account),
                                       ("qos", args.qos)) if v]
    if args.gpus:
        opts.append(f"--gpus-per-task={args.gpus}")
    cmd = " ".join(shlex.quote(c) for c in worker_command(overrides))
    return "\n".join(["#!/bin/bash", *(f"#SBATCH {o}" for o in opts),
                      "# written by python -m tinynets.search.workers --slurm: one search worker per array task",
                      "set -euo pipefail", f"cd {shlex.quote(str(Path.cwd()))}", *args.setup,
                      "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
                      f"export PYTHONPATH={shlex.quote(child_env()['PYTHONPATH'])}", f"exec {cmd}", ""])


def run_slurm(args: argparse.Namespace, overrides: list[str]) -> int:
    log_dir = Path(args.log_dir).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    script = log_dir / f"{args.job_name}-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    script.write_text(sbatch_script(args, overrides, log_dir))
    cmd = ["sbatch", "--parsable", *(["--wait"] if args.wait else []), str(script)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        fail("--slurm needs SLURM's sbatch on this machine (a login node; scripts/local-cluster up starts one)")
    if done.returncode != 0 and not (args.wait and done.stdout.strip()):
        fail(f"sbatch refused {script}: {' '.join(done.stderr.split())[:300]}")
    job = done.stdout.strip().split(";")[0]
    print(f"submitted job array {job} ({args.workers} workers, at most {args.array_parallelism} at once): {script}"
          f"; logs in {log_dir}", flush=True)
    return done.returncode if args.wait else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinynets.search.workers", description=__doc__.split("\n\n")[0],
                                 epilog="Everything after the flags is a train.py override (a search: hparams_search=...).")
    ap.add_argument("workers", type=int, help="how many workers")
    ap.add_argument("--slurm", action="store_true", help="submit the workers as a SLURM job array")
    ap.add_argument("--partition"), ap.add_argument("--account"), ap.add_argument("--qos")
    ap.add_argument("--gpus", type=int, default=0, help="GPUs per worker (SLURM)")
    ap.add_argument("--cpus-per-task", type=int, default=2)
    ap.add_argument("--mem-gb", type=int, default=8)
    ap.add_argument("--time-min", type=int, default=240, help="each worker's time limit (SLURM)")
    ap.add_argument("--array-parallelism", type=int, default=64, help="workers at once (SLURM)")
    ap.add_argument("--job-name", default="tinynets-search")
    ap.add_argument("--log-dir", default="outputs/search/slurm", help="the sbatch script and the workers' logs")
    ap.add_argument("--setup", action="append", default=[], help="a shell line before the worker (repeatable)")
    ap.add_argument("--wait", action="store_true", help="wait for the job array to end (SLURM)")
    args, overrides = ap.parse_known_args(argv)
    if args.workers < 1:
        fail(ConfigError("workers", args.workers, "an integer >= 1"))
    if value_of(overrides, "hparams_search") is None:
        fail(ConfigError("hparams_search", None, "workers run a search: name one, e.g. hparams_search=frontier"))
    code = check_once(overrides)
    if code != 0:
        return code
    return run_slurm(args, overrides) if args.slurm else run_local(args.workers, overrides)


if __name__ == "__main__":
    sys.exit(main())
