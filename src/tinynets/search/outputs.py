"""What a search leaves at its sweep root besides the leaderboard (tinynets.search.leaderboard):
`optimization_results.yaml` (the study's summary: its budget, states, the best trial or the Pareto
front, with tinynets.search.pareto's files) and, per worker process, `workers/<host>-<pid>.json`: the
trials it ran, the seconds it waited for the study lock at each ask and held it, and what it asked of the storage
server (statements, connections opened, the most held at once; `make bench-search` reads them)."""

from __future__ import annotations

import logging
import os
import socket
import statistics
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("tinynets.search")


def write_results(config: DictConfig, study, objectives: dict[str, str]) -> None:
    from optuna.trial import TrialState

    from tinynets.files import atomic_write
    from tinynets.search.storage import redact
    from tinynets.search.study import budget

    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    results: dict[str, Any] = {
        "name": "optuna", "study_name": study.study_name, "storage": redact(config.hydra.sweeper.storage),
        "objectives": objectives, "n_trials": len(trials), "budget": vars(budget(study)),
        "states": {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState if s.is_finished()}}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(objectives) == 1:
        best = study.best_trial
        results.update(best_trial=best.number, best_params=best.params, best_value=best.value)
        log.info("Best trial %d: %s = %s", best.number, best.params, best.value)
    elif complete:
        from tinynets.search.pareto import write_pareto

        front = write_pareto(sweep_dir, study, objectives, OmegaConf.select(config, "max_params"),
                             OmegaConf.select(config, "target_acc"))
        results["front"] = [{"trial": t.number, "values": list(t.values), "params": dict(t.params)} for t in front]
        log.info("Pareto front: %d trials (pareto.md, pareto.png, front/)", len(front))
    atomic_write(sweep_dir / "optimization_results.yaml", OmegaConf.to_yaml(OmegaConf.create(results)))


def write_worker_record(config: DictConfig, url: str, trials: list[int]) -> Path:
    """This process's `workers/<host>-<pid>.json` at the sweep root, and one line summing it up."""
    from tinynets.files import write_json
    from tinynets.search.storage import USAGE, redact
    from tinynets.search.study import LOCK_HELD, LOCK_WAITS

    waits = sorted(LOCK_WAITS)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "storage": redact(url), "trials": trials,
              "asks": len(waits), "lock_wait_s": [round(w, 6) for w in waits],
              "lock_held_s": [round(h, 6) for h in sorted(LOCK_HELD)], **USAGE.snapshot()}
    path = Path(str(config.hydra.sweep.dir)) / "workers" / f"{record['host']}-{record['pid']}.json"
    write_json(path, record)
    if waits:
        p95 = waits[min(len(waits) - 1, int(0.95 * len(waits)))]
        log.info("worker: %d trials, %d asks, study lock wait median %.1f ms, p95 %.1f ms, held median %.1f ms; "
                 "%d storage statements, %d connections opened, at most %d at once", len(trials), len(waits),
                 1000 * statistics.median(waits), 1000 * p95, 1000 * statistics.median(LOCK_HELD),
                 record["statements"], record["connects"], record["peak_connections"])
    return path
