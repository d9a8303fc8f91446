"""`python -m tinynets.bench search` (`make bench-search`): the same search run three ways, side by
side, in interleaved repeats: batched (one process launching its trials two at a time through
joblib: a batch waits for its slowest trial), and asynchronous search workers (`python -m
tinynets.search.workers N`, N = 1 and 2: each worker asks for its next trial as soon as its previous
one ends).

The search is fixed so that every mode runs the same trials: a grid (Optuna's GridSampler, no
pruner) of short and long trials (`trainer.max_epochs` 1 or 4) over three widths, every other knob
of arch_search fixed, on a slice of MNIST's training set (`trainer.limit_train_batches`: 300 batches
of 64, so that a trial outlasts a worker's start-up; with 60 the start-up dominated every mode). Per mode:
trials per hour (finished trials over the command's wall time, start-up included) and idle
worker-seconds (over the span from the first trial's start to the last one's end, the seconds each
worker slot spent outside a trial's job: a batch barrier, or a worker with nothing left to run)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench.clock import code_state, command_line, load_conditions, spread
from tinynets.bench.sweeps import LOCAL, timed_command
from tinynets.process import threads_of
from tinynets.run.metrics import FILE, read_metrics

# every arch_search knob fixed but the grid's two: the same trials in every mode
FIXED = ("model.net.c1=8", "model.net.c2=12", "model.net.n1=1", "model.net.n2=1", "model.net.n3=1",
         "model.net.transition=true", "model.net.head=gap_conv", "lr=0.1", "dropout.p=0.05",
         "scheduler.fn.pct_start=0.2", "data.augment.rotation=0", "data.batch_size=64", "logger=none",
         "~callbacks.test_figures")
GRID = ("trainer.max_epochs=choice(1,4)", "model.net.c3=choice(8,12,16)")
QUICK_GRID = ("trainer.max_epochs=choice(1,2)", "model.net.c3=choice(8)")
SLICE = ("++trainer.limit_train_batches=300", "++trainer.limit_val_batches=20")
# mode -> (command before the overrides, overrides after them, environment changes, worker slots).
# joblib's workers get one torch thread each; a search worker gets cores // N (tinynets.search.workers)
MODES: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str | None], int]] = {
    "batched, 2 jobs": (("train.py", "-m"), ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                                             "hydra.sweeper.n_jobs=2"), {"OMP_NUM_THREADS": "1"}, 2),
    "async, 1 worker": (("-m", "tinynets.search.workers", "1"), (), {"OMP_NUM_THREADS": None}, 1),
    "async, 2 workers": (("-m", "tinynets.search.workers", "2"), (), {"OMP_NUM_THREADS": None}, 2),
}


def idle_seconds(spans: dict[str, list[tuple[float, float]]], slots: int) -> float:
    """Worker-seconds outside a trial between the first trial's start and the last one's end:
    slots x that span - the seconds inside trials. `spans`: each worker's (start, end) of its trials."""
    every = [s for v in spans.values() for s in v]
    if not every:
        return 0.0
    window = max(e for _, e in every) - min(s for s, _ in every)
    return max(0.0, slots * window - sum(e - s for s, e in every))


def timed_search(mode: str, overrides: Sequence[str], sweep: Path) -> dict[str, Any]:
    """One search in `mode`, timed from the command to its exit; its trials' spans from their records
    (a record's end is its metrics.json's time, its start that minus the run's `wall_s`)."""
    head, tail, env, slots = MODES[mode]
    wall = timed_command([sys.executable, *head, *overrides, *tail, f"hydra.sweep.dir={sweep}"], env)
    spans: dict[str, list[tuple[float, float]]] = {}
    threads = set()
    for p in sorted(sweep.rglob(FILE)):
        m = read_metrics(p.parent)
        if m is None or m.get("wall_s") is None:
            continue
        threads |= {t for t in [threads_of(m.get("device"))] if t}
        end = p.stat().st_mtime
        spans.setdefault(str(m.get("pid")), []).append((end - float(m["wall_s"]), end))
    trials = sum(len(v) for v in spans.values())
    return {"wall_s": round(wall, 2), "trials": trials, "workers_used": len(spans),
            "trials_per_hour": round(trials / wall * 3600, 1), "idle_worker_s": round(idle_seconds(spans, slots), 2),
            "in_trials_s": round(sum(e - s for v in spans.values() for s, e in v), 2), "torch_threads": sorted(threads)}


def search_bench(data_dir: str, workdir: Path, repeats: int, quick: bool = False, extra: Sequence[str] = (),
                 argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Every mode once per repeat (the order rotating), then each mode's medians and spreads."""
    grid = QUICK_GRID if quick else GRID
    overrides = ["hparams_search=arch_search", "hydra/sweeper/sampler=grid", "hydra/sweeper/pruner=nop", *FIXED,
                 *grid, *SLICE, f"paths.data_dir={data_dir}", *extra]
    if quick:
        overrides += ["data.val_split=64", "data.verify=false"]
    before = load_conditions()
    names = list(MODES)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in names}
    for r in range(repeats):
        for mode in names[r % len(names):] + names[:r % len(names)]:
            runs[mode].append(timed_search(mode, overrides, workdir / f"r{r}" / mode.replace(", ", "_").replace(" ", "")))
    modes = {}
    for mode, rs in runs.items():
        modes[mode] = {"slots": MODES[mode][3], "command": _shown(mode),
                       "torch_threads": sorted({t for x in rs for t in x["torch_threads"]}),
                       "trials": sorted({x["trials"] for x in rs}),
                       **{k: spread([x[k] for x in rs], 2) for k in ("wall_s", "trials_per_hour", "idle_worker_s")},
                       "runs": rs}
    tph = {m: v["trials_per_hour"]["median"] for m, v in modes.items()}
    return {
        "command": command_line(argv), "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M"), "code": code_state(),
        "load": {"before": before, "after": load_conditions()}, "repeats": repeats, "grid": list(grid),
        "search": [o for o in overrides if not o.startswith(LOCAL)],
        "n_trials": math.prod(len(g.split("(")[1].split(",")) for g in grid), "modes": modes,
        "async2_vs_batched2": round(tph["async, 2 workers"] / tph["batched, 2 jobs"], 3),
        "async2_vs_async1": round(tph["async, 2 workers"] / tph["async, 1 worker"], 3),
    }


def _shown(mode: str) -> str:
    """The mode's command, its search overrides written `<search>`."""
    head, tail, env, _ = MODES[mode]
    prefix = "".join(f"{k}={v} " for k, v in env.items() if v is not None)
    return f"{prefix}python {' '.join([*head, '<search>', *tail])}"
