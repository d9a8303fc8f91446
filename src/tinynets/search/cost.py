"""What a search spent before it found a configuration that holds: `python -m tinynets.search.cost
<sweep dir>` reads every job record under a search's sweep root (each seed of a seed-robust trial is
one job) and prints the CPU-hours from the first job's start to the end of the first trial whose
seeds ALL reached the target on the holdout (its final weights' `final_val_acc`), and the same for
the whole sweep so far.

A job's CPU-seconds are its run's (`cpu_s`, all threads, from the run's start) or, in a record
without it, its wall seconds (`wall_s`) times its torch threads (its `device`, e.g. `(1 threads)`: a
process paused or sharing a core is counted as busy); its end is its metrics.json's modification
time and its start that minus `wall_s`, so a job still running when the first trial passed counts
only its share before that moment. A job killed before it wrote its record is not counted (its
resumed run is). Records copied to another machine lose their times: read the sweep dir where the
workers wrote it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tinynets.checks import is_finite_number
from tinynets.errors import ConfigError, fail
from tinynets.files import write_json
from tinynets.overrides import key_value
from tinynets.process import threads_of
from tinynets.run.metrics import FILE, OK, status_of
from tinynets.search.leaderboard import collect
from tinynets.search.trial import TRIAL_KEY

def jobs(sweep_dir: Path, objective: str = "final_val_acc") -> list[dict[str, Any]]:
    """Each finished job's trial number, seed, status, objective, CPU seconds and (start, end) in seconds."""
    out = []
    for row in collect(sweep_dir, objective=objective):
        m = row["metrics"]
        wall = m.get("wall_s")
        if not m or not is_finite_number(wall):
            continue
        trial = next((v for k, v in map(key_value, row["overrides"]) if k.lstrip("+") == TRIAL_KEY), None)
        end = (Path(row["dir"]) / FILE).stat().st_mtime
        cpu = float(m["cpu_s"]) if is_finite_number(m.get("cpu_s")) else float(wall) * (threads_of(m.get("device")) or 1)
        out.append({"job": row["job"], "trial": None if trial in (None, "null") else int(trial), "seed": m.get("seed"),
                    "status": status_of(m), "value": row["objective"], "cpu_s": cpu, "start": end - float(wall), "end": end})
    return out


def first_pass(records: list[dict[str, Any]], seeds: int, target: float) -> tuple[int, float] | None:
    """The trial whose `seeds` seeds all ended ok at >= target first, and when its last seed ended."""
    by_trial: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        if r["trial"] is not None and r["status"] == OK:
            by_trial.setdefault(r["trial"], []).append(r)
    passed = [(max(r["end"] for r in rs), t) for t, rs in by_trial.items()
              if len({r["seed"] for r in rs}) >= seeds and all(r["value"] is not None and r["value"] >= target for r in rs)]
    return (min(passed)[1], min(passed)[0]) if passed else None


def cpu_hours(records: list[dict[str, Any]], until: float | None = None) -> float:
    """CPU-seconds of every job, each cut at `until` in proportion to its span, in hours."""
    t1 = until if until is not None else max((r["end"] for r in records), default=0.0)

    def share(r):
        span = r["end"] - r["start"]
        return 1.0 if span <= 0 else max(0.0, min(r["end"], t1) - r["start"]) / span
    return sum(r["cpu_s"] * share(r) for r in records) / 3600


def cost(sweep_dir: Path, seeds: int, target: float, objective: str = "final_val_acc") -> dict[str, Any]:
    records = jobs(sweep_dir, objective)
    t0 = min((r["start"] for r in records), default=None)
    found = first_pass(records, seeds, target)
    result: dict[str, Any] = {
        "sweep_dir": str(sweep_dir), "objective": objective, "target": target, "seeds_per_trial": seeds,
        "jobs": len(records), "trials": len({r["trial"] for r in records if r["trial"] is not None}),
        "cpu_hours": round(cpu_hours(records), 3),
        "wall_hours": round((max(r["end"] for r in records) - t0) / 3600, 3) if records else 0.0,
        "first_pass": None}
    if found:
        trial, when = found
        result["first_pass"] = {"trial": trial, "cpu_hours": round(cpu_hours(records, when), 3),
                                "wall_hours": round((when - t0) / 3600, 3),
                                "jobs_before": sum(r["end"] <= when for r in records)}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinynets.search.cost", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", type=Path, help="the search's sweep root (hydra.sweep.dir)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per trial (hydra.sweeper.seeds' length; default 3)")
    ap.add_argument("--target", type=float, default=99.4, help="holdout accuracy every seed must reach (default 99.4)")
    ap.add_argument("--objective", default="final_val_acc", help="the record's accuracy (default final_val_acc)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args(argv)
    try:
        if not args.sweep_dir.is_dir():
            raise ConfigError("sweep_dir", str(args.sweep_dir), "a search's sweep root")
        if args.seeds < 1:
            raise ConfigError("--seeds", args.seeds, "an integer >= 1")
    except ConfigError as e:
        return fail(e)
    res = cost(args.sweep_dir, args.seeds, args.target, args.objective)
    print(f"{res['jobs']} jobs of {res['trials']} trials: {res['cpu_hours']:.2f} CPU-hours "
          f"over {res['wall_hours']:.2f} h")
    fp = res["first_pass"]
    print(f"first trial with all {args.seeds} seeds >= {args.target:g}% ({args.objective}): " + (
        f"trial {fp['trial']}, after {fp['cpu_hours']:.2f} CPU-hours ({fp['wall_hours']:.2f} h, "
        f"{fp['jobs_before']} jobs)" if fp else "none yet"))
    if args.json:
        write_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
