"""`python -m tinynets.bench search-workers` (`make bench-search`'s second half): how fast one study in
the live PostgreSQL hands out trials to 1, 4, 16 and 32 processes, ours against Optuna's own loop, side
by side in one invocation, with trials that train nothing (hparams_search=instant: task=instant scores
each trial at once), so that the study is what is timed.

- ours: `python -m tinynets.search.workers N hparams_search=instant` on a fresh study, budget B;
- Optuna's loop (the anchor): N processes each running `study.optimize(objective,
  callbacks=[MaxTrialsCallback(B)])` on a fresh study in the same storage, with the same sampler (TPE,
  multivariate, constant_liar), the same space (conf/hparams_search/instant.yaml's params) and the same
  objective (tinynets.search.instant.score).

Per run, from the study: the trials finished (ours must hit B exactly; Optuna's loop may pass it),
trials handed out per second (finished trials over the span from the first trial's start to the last
one's end: the processes' start-up is not counted), and for ours, from each worker's
`workers/<host>-<pid>.json`: the study lock's wait per ask (median, p95), the storage statements per
trial, and the most connections a worker held at once. The storage URL comes from
$TINYNETS_STORAGE_FILE (scripts/local-cluster) or $TINYNETS_STORAGE, never from the command line."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench.clock import code_state, command_line, load_conditions
from tinynets.bench.sweeps import timed_command

COUNTS, QUICK_COUNTS = (1, 4, 16, 32), (1, 2)
INSTANT = ("hparams_search=instant", "~hydra.callbacks.leaderboard", "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}")


def budget_for(n: int, quick: bool = False) -> int:
    """Trials per run: enough that every worker asks several times."""
    return 8 if quick else max(32, 4 * n)


def storage_url() -> str | None:
    path = os.environ.get("TINYNETS_STORAGE_FILE", "/var/lib/tinynets-cluster/storage.url")  # local-cluster's
    if Path(path).is_file():
        return Path(path).read_text().strip()
    return os.environ.get("TINYNETS_STORAGE")


def space() -> dict[str, Any]:
    """conf/hparams_search/instant.yaml's space as Optuna distributions."""
    from omegaconf import OmegaConf

    from tinynets.bench import CONF
    from tinynets.search.space import parse_overrides

    params = OmegaConf.load(CONF / "hparams_search" / "instant.yaml").hydra.sweeper.params
    return parse_overrides([f"{k}={v}" for k, v in params.items()])[0]


def tpe():
    import optuna

    from tinynets.search.storage import quiet_optuna

    quiet_optuna()
    return optuna.samplers.TPESampler(n_startup_trials=5, n_ei_candidates=24, multivariate=True, constant_liar=True)


def study_figures(url: str, name: str) -> dict[str, Any]:
    """What the study says about a run: trials finished, distinct numbers and configurations, and the
    rate it handed them out."""
    import optuna

    from tinynets.search.storage import open_storage

    trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    done = [t for t in trials if t.state.is_finished()]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds() \
        if done else 0.0
    return {"finished": len(done), "trials": len(trials), "distinct_numbers": len({t.number for t in trials}),
            "distinct_configurations": len({json.dumps(t.params, sort_keys=True) for t in trials}),
            "span_s": round(span, 3), "trials_per_s": round(len(done) / span, 3) if span > 0 else None}


def ours(url: str, n: int, budget: int, sweep: Path) -> dict[str, Any]:
    name = f"bench_ours_{uuid.uuid4().hex[:8]}"
    wall = timed_command([sys.executable, "-m", "tinynets.search.workers", str(n), *INSTANT, f"hydra.sweep.dir={sweep}",
                          f"hydra.sweeper.study_name={name}", f"hydra.sweeper.n_trials={budget}"],
                         {"TINYNETS_STORAGE": url, "OMP_NUM_THREADS": "1"})
    records = [json.loads(p.read_text()) for p in sorted((sweep / "workers").glob("*.json"))]
    workers = [r for r in records if r["asks"]]  # the check before the workers asks nothing
    figures = study_figures(url, name)
    return {"wall_s": round(wall, 2), **figures, "workers_with_trials": sum(bool(r["trials"]) for r in workers),
            "lock_wait_ms": quantiles([w for r in workers for w in r["lock_wait_s"]]),
            "lock_held_ms": quantiles([h for r in workers for h in r.get("lock_held_s", [])]),
            "statements_per_trial": round(sum(r["statements"] for r in workers) / max(1, figures["finished"]), 1),
            "connections_per_worker_max": max((r["peak_connections"] for r in workers), default=None),
            "connections_opened": sum(r["connects"] for r in workers)}


def quantiles(seconds: list[float]) -> dict[str, Any]:
    """Median and p95 in ms, and how many."""
    xs = sorted(seconds)
    if not xs:
        return {"median": None, "p95": None, "asks": 0}
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return {"median": round(1000 * statistics.median(xs), 2), "p95": round(1000 * p95, 2), "asks": len(xs)}


def anchor(url: str, n: int, budget: int) -> dict[str, Any]:
    """N processes of Optuna's own loop on a fresh study; the study created first (as ours: once)."""
    import optuna

    name = f"bench_optuna_{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=url, direction="maximize")
    env = {**os.environ, "TINYNETS_STORAGE": url, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tinynets.bench.scale", name, str(budget)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise RuntimeError(f"Optuna's loop exited {[p.returncode for p in procs]}: {errors[0][-2000:]}")
    return {"wall_s": round(wall, 2), **study_figures(url, name)}


def scale_bench(workdir: Path, quick: bool = False, argv: Sequence[str] | None = None) -> dict[str, Any]:
    url = storage_url()
    if not url:
        raise RuntimeError("no PostgreSQL: set TINYNETS_STORAGE_FILE (scripts/local-cluster up; eval "
                           "\"$(scripts/local-cluster env)\") or TINYNETS_STORAGE")
    from tinynets.search.storage import POOL, redact

    before = load_conditions()
    counts = QUICK_COUNTS if quick else COUNTS
    runs: dict[str, dict[str, Any]] = {}  # by process count (not "runs": that key means a fast result)
    for i, n in enumerate(counts):  # the order alternates, so neither side always runs on a warmer server
        budget = budget_for(n, quick)
        first, second = ("ours", "optuna") if i % 2 == 0 else ("optuna", "ours")
        row: dict[str, Any] = {"budget": budget}
        for side in (first, second):
            row[side] = ours(url, n, budget, workdir / f"n{n}") if side == "ours" else anchor(url, n, budget)
        row["ours_vs_optuna"] = (round(row["ours"]["trials_per_s"] / row["optuna"]["trials_per_s"], 3)
                                 if row["ours"]["trials_per_s"] and row["optuna"]["trials_per_s"] else None)
        runs[str(n)] = row
    return {"command": command_line(argv), "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M"),
            "code": code_state(), "load": {"before": before, "after": load_conditions()},
            "storage": redact(url), "counts": list(counts), "pool": POOL,
            "ours_command": f"python -m tinynets.search.workers N {' '.join(INSTANT)} hydra.sweeper.n_trials=B",
            "optuna_loop": "N x study.optimize(objective, callbacks=[MaxTrialsCallback(B)]), TPESampler(multivariate="
                           "True, constant_liar=True, n_startup_trials=5, n_ei_candidates=24), same storage",
            "by_count": runs}


def _anchor_worker(name: str, budget: int) -> None:
    """One process of Optuna's loop (run by `anchor`): the instant objective on instant.yaml's space."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from tinynets.search.instant import score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = space()

    def objective(trial) -> float:
        values = {}
        for k, d in dists.items():
            if isinstance(d, CategoricalDistribution):
                values[k] = trial.suggest_categorical(k, d.choices)
            elif isinstance(d, FloatDistribution):
                values[k] = trial.suggest_float(k, d.low, d.high, log=d.log, step=d.step)
            else:
                values[k] = trial.suggest_int(k, d.low, d.high, log=d.log, step=d.step)
        return score([f"{k}={v}" for k, v in values.items()])

    study = optuna.load_study(study_name=name, storage=os.environ["TINYNETS_STORAGE"], sampler=tpe())  # Optuna's own
    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(budget)])


if __name__ == "__main__":
    _anchor_worker(sys.argv[1], int(sys.argv[2]))
