"""Time to target: `python train.py <overrides>` launched as a user launches it, timed from the
command to the first epoch at the target accuracy (`python -m tinynets.bench fast`), and that time
as a ratio of one epoch of the write-ups' deep_narrow pipeline measured in the same invocation."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench import ROOT
from tinynets.bench.clock import command_line, git_rev, load_conditions
from tinynets.bench.throughput import Settings, writeup_epoch

log = logging.getLogger("tinynets.bench")
# only when each epoch line appeared is read from the output (the run's records have no clock
# started at the command); what the epoch scored and took comes from its metrics.json `history`
EPOCH_LINE = re.compile(r"^\[Epoch (\d+)\]")


def train_env(changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment `python train.py` runs in here: this checkout's sources first, unbuffered
    output, and `changes` (None: the variable unset)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    for k, v in (changes or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def timed_run(overrides: Sequence[str], run_dir: Path, target: float | None,
              script: Sequence[str] = ("train.py",)) -> dict[str, Any]:
    """`python train.py <overrides>` as a user runs it; wall time from the command to each epoch
    line (read as it is printed), to the first epoch at `target`, and to the end. The run's
    metrics.json (in `run_dir`) gives each epoch's accuracy and seconds, the final accuracy and
    `first_step_s`."""
    env = train_env()
    cmd = [sys.executable, *script, *overrides, f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, tail = {}, []  # epoch -> seconds from the command to its line
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        tail = (tail + [line])[-30:]
        m = EPOCH_LINE.match(line.strip())
        if m:
            seen.setdefault(int(m[1]), round(now, 2))
            log.info("    %.1fs  %s", now, line.strip())
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}:\n{''.join(tail)}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = epoch_times(metrics.get("history") or [], seen)
    hit = next((e for e in epochs if target is not None and e["acc"] >= target), None)
    return {
        "overrides": list(overrides),
        "epochs": epochs,
        "target_epoch": hit["epoch"] if hit else None,
        "time_to_target_s": hit["at_s"] if hit else None,
        "first_step_s": metrics.get("first_step_s"),
        "wall_s": round(wall, 2),
        "best_val_acc": metrics.get("best_val_acc"),
        "test_acc": metrics.get("test_acc"),
        "device": metrics.get("device"),
        "params": metrics.get("params"),
        "model": metrics.get("model"),
    }


# the model whose write-up pipeline's epoch the time to target is measured against (issue 16)
WRITEUP_MODEL = "deep_narrow"


def fast(seeds: Sequence[int], overrides: Sequence[str], label: str, target: float | None,
         argv: Sequence[str] | None = None, writeup: Settings | None = None,
         runs_root: Path = ROOT / "outputs" / "bench") -> dict[str, Any]:
    """Each seed's `python train.py <overrides> seed=N` in a fresh run dir (a complete run left
    there would not run again), timed; with `writeup` (the throughput bench's settings) first one
    epoch of pipeline (a) for WRITEUP_MODEL, and the time ratio."""
    before = load_conditions()
    epoch = writeup_epoch(writeup, WRITEUP_MODEL) if writeup is not None else None
    runs = {}
    for seed in seeds:
        run_dir = runs_root / label / f"seed{seed}"
        shutil.rmtree(run_dir, ignore_errors=True)
        log.info("  %s seed %d: python train.py %s seed=%d", label, seed, " ".join(overrides), seed)
        runs[str(seed)] = timed_run([*overrides, f"seed={seed}"], run_dir, target)
    times = [r["time_to_target_s"] for r in runs.values()]
    return with_time_ratio({
        "command": command_line(argv),
        "train_command": "python train.py " + " ".join(overrides) + " seed=N",
        "label": label,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": git_rev(),
        "target_acc": target,
        "load": {"before": before, "after": load_conditions()},
        "runs": runs,
        "all_reached": all(t is not None for t in times),
        "max_time_to_target_s": max(times) if times and all(t is not None for t in times) else None,
        "median_time_to_target_s": statistics.median(times) if times and all(t is not None for t in times) else None,
    }, epoch)


def with_time_ratio(res: dict[str, Any], epoch: dict[str, Any] | None) -> dict[str, Any]:
    """`writeup_epoch_s` (the write-up pipeline's epoch) and `time_to_target_vs_writeup_epoch`
    (the slowest seed's time to target over it; None unless every seed reached the target)."""
    if epoch is None:
        return res
    slowest = res.get("max_time_to_target_s")
    return {**res, "writeup": epoch, "writeup_epoch_s": epoch["epoch_s"],
            "time_to_target_vs_writeup_epoch": round(slowest / epoch["epoch_s"], 3) if slowest is not None else None}


def epoch_times(history: Sequence[dict[str, Any]], seen: dict[int, float]) -> list[dict[str, Any]]:
    """The scored epochs of a run's records whose line was seen, each with the time its line
    appeared; accuracy and seconds rounded as the line prints them (2 and 1 decimals)."""
    return [{"epoch": r["epoch"], "acc": round(r["val_acc"], 2), "at_s": seen[r["epoch"]],
             "epoch_s": round(r["seconds"], 1)}
            for r in history if r.get("val_acc") is not None and r["epoch"] in seen]
