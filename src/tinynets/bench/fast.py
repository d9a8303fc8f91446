"""Time to target: `python train.py <overrides>` launched as a user launches it, timed from the
command to the first epoch at the target accuracy (`python -m tinynets.bench fast`), and that time
as a ratio of one epoch of the write-ups' deep_narrow pipeline measured in the same invocation.
Both sides are measured in every repeat, interleaved (repeat r: the write-up epoch and each seed's
run, the order rotated by r); each seed's time is the median of its repeats, the write-up epoch the
median of its own, and the ratio is the slowest seed's median over the write-up epoch's median."""

from __future__ import annotations

import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench import ROOT
from tinynets.bench.clock import load_conditions, pairwise, record_header, spread
from tinynets.bench.throughput import Settings, rotation, writeup_measure, writeup_summary
from tinynets.process import child_env
from tinynets.run.metrics import FILE, read_metrics

log = logging.getLogger("tinynets.bench")
# only when each epoch line appeared is read from the output (the run's records have no clock
# started at the command); what the epoch scored and took comes from its metrics.json `history`
EPOCH_LINE = re.compile(r"^\[Epoch (\d+)\]")


def train_env(changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment `python train.py` runs in here: this checkout's sources first, unbuffered
    output, and `changes` (None: the variable unset)."""
    env = {**child_env(),
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
    metrics = read_metrics(run_dir)
    if metrics is None:
        raise RuntimeError(f"{' '.join(cmd)} left no readable {run_dir / FILE}")
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
# the fewest repeats a time-to-target result is recorded from, and the default (issue 25)
MIN_REPEATS = 3
WRITEUP = "writeup"  # the write-up epoch's place in a repeat's order, beside the seeds
STATISTIC = ("per seed the median of its repeats, spread min-max; the write-up epoch the median of its repeats; "
             "ratio = slowest seed's median / the write-up epoch's median")


def fast(seeds: Sequence[int], overrides: Sequence[str], label: str, target: float | None,
         argv: Sequence[str] | None = None, writeup: Settings | None = None,
         runs_root: Path = ROOT / "outputs" / "bench", repeats: int = MIN_REPEATS) -> dict[str, Any]:
    """`repeats` rounds, each one measurement of pipeline (a)'s epoch for WRITEUP_MODEL (with
    `writeup`, the throughput bench's settings) and each seed's `python train.py <overrides> seed=N`
    in a fresh run dir (a complete run left there would not run again), timed; the order rotates by
    round. Per seed the median of its repeats; the time ratio (`with_time_ratio`)."""
    before = load_conditions()
    items = ([WRITEUP] if writeup is not None else []) + [str(s) for s in seeds]
    done: dict[str, list[dict[str, Any]]] = {i: [] for i in items}
    with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
        for r in range(repeats):
            for item in rotation(items, r):
                if item == WRITEUP:
                    done[item].append(writeup_measure(writeup, WRITEUP_MODEL, r, Path(tmp)))
                    continue
                run_dir = runs_root / label / f"seed{item}" / f"repeat{r}"
                shutil.rmtree(run_dir, ignore_errors=True)
                log.info("  %s seed %s, repeat %d: python train.py %s seed=%s", label, item, r + 1,
                         " ".join(overrides), item)
                done[item].append(timed_run([*overrides, f"seed={item}"], run_dir, target))
    runs = {s: seed_summary(done[s]) for s in items if s != WRITEUP}
    epoch = writeup_summary(writeup, WRITEUP_MODEL, done[WRITEUP]) if writeup is not None else None
    times = [r["time_to_target_s"] for r in runs.values()]
    reached = bool(times) and all(t is not None for t in times)
    return with_time_ratio({
        **record_header(argv, before),
        "train_command": "python train.py " + " ".join(overrides) + " seed=N",
        "label": label,
        "target_acc": target,
        "repeats": repeats,
        "statistic": STATISTIC,
        "order": [rotation(items, r) for r in range(repeats)],
        "runs": runs,
        "all_reached": reached,
        "slowest_seed": max(runs, key=lambda s: runs[s]["time_to_target_s"]) if reached else None,
        "max_time_to_target_s": max(times) if reached else None,
        "median_time_to_target_s": statistics.median(times) if reached else None,
    }, epoch)


def seed_summary(repeats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One seed's timed runs (one per repeat, `timed_run`) as one: the median time to target and its
    spread (None unless every repeat reached the target), the epoch each repeat reached it at and
    the accuracy then; the first repeat's epochs; the medians of first step and whole command."""
    times = [r["time_to_target_s"] for r in repeats]
    reached = all(t is not None for t in times)
    first = repeats[0]
    acc_at = [next((e["acc"] for e in r["epochs"] if e["epoch"] == r["target_epoch"]), None) for r in repeats]
    steps = [r["first_step_s"] for r in repeats if r.get("first_step_s") is not None]
    return {
        "time_to_target_s": round(statistics.median(times), 2) if reached else None,
        "time_to_target_spread": spread(times, 2) if reached else None,
        "reached_repeats": sum(t is not None for t in times),
        "repeats_time_to_target_s": times,
        # the latest epoch any repeat needed (None unless all reached); each repeat's, and the accuracy then
        "target_epoch": max(r["target_epoch"] for r in repeats) if reached else None,
        "target_epochs": [r["target_epoch"] for r in repeats],
        "acc_at_target": acc_at,
        "epochs": first["epochs"],  # the first repeat's
        "first_step_s": round(statistics.median(steps), 2) if steps else None,
        "wall_s": round(statistics.median(r["wall_s"] for r in repeats), 2),
        "test_acc": first["test_acc"],
        "test_accs": [r["test_acc"] for r in repeats],
        "best_val_acc": first["best_val_acc"],
        **{k: first.get(k) for k in ("overrides", "device", "params", "model")},
        "per_repeat": [dict(r) for r in repeats],
    }


def with_time_ratio(res: dict[str, Any], epoch: dict[str, Any] | None) -> dict[str, Any]:
    """`writeup_epoch_s` (the write-up pipeline's epoch, the median of its repeats) and
    `time_to_target_vs_writeup_epoch` (the slowest seed's median time to target over it; None unless
    every seed reached the target in every repeat); with each seed's times per repeat, also the ratio
    within each repeat (the slowest seed of that repeat over that repeat's write-up epoch), its
    median and spread (`time_ratio_per_repeat`)."""
    if epoch is None:
        return res
    slowest = res.get("max_time_to_target_s")
    out = {**res, "writeup": epoch, "writeup_epoch_s": epoch["epoch_s"],
           "time_to_target_vs_writeup_epoch": round(slowest / epoch["epoch_s"], 3) if slowest is not None else None}
    per_seed = [r.get("repeats_time_to_target_s") for r in (res.get("runs") or {}).values()]
    if slowest is not None and per_seed and all(per_seed) and epoch.get("repeats_epoch_s"):
        slowest_per_repeat = [max(ts) for ts in zip(*per_seed)]
        out["time_ratio_per_repeat"] = pairwise(slowest_per_repeat, epoch["repeats_epoch_s"], 3)
    return out


def epoch_times(history: Sequence[dict[str, Any]], seen: dict[int, float]) -> list[dict[str, Any]]:
    """The scored epochs of a run's records whose line was seen, each with the time its line
    appeared; accuracy and seconds rounded as the line prints them (2 and 1 decimals)."""
    return [{"epoch": r["epoch"], "acc": round(r["val_acc"], 2), "at_s": seen[r["epoch"]],
             "epoch_s": round(r["seconds"], 1)}
            for r in history if r.get("val_acc") is not None and r["epoch"] in seen]
