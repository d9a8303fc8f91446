"""What a search worker writes into its trials' job dirs besides the jobs' own records, so that the job
dirs, the study and the leaderboard never disagree about a trial:

- `retried` (or `failed` with no retry left): a trial whose process died, failed by the worker that
  found it (tinynets.search.study.recover); a record its job left (the process died before telling
  the study) keeps its measurements under that status;
- `superseded`: a trial its study failed elsewhere while its own worker lived on (paused past the
  grace period, or cut off): the worker stops it (tinynets.search.stopping) or, when the job had
  already ended, replaces the job's record, keeping what it measured, and does not tell the study.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tinynets.checks import is_finite_number
from tinynets.run.metrics import (FAILED, OK, PRUNED, RETRIED, SUPERSEDED, failure_record, read_metrics, status_of,
                                   write_metrics)
from tinynets.search.seeds import seed_key
from tinynets.search.trial import TRIAL_KEY

log = logging.getLogger("tinynets.search")


def job_dir(config: DictConfig, number: int) -> Path | None:
    """The job dir of trial `number` (None where the sweep's subdir does not name the trial)."""
    subdir = str(OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir"))  # trial=${optuna_trial}
    mark = "${" + TRIAL_KEY + "}"
    if mark not in subdir:
        return None
    return Path(str(config.hydra.sweep.dir)) / subdir.replace(mark, str(number))


def record_failed(config: DictConfig, number: int, why: str, again: int | None, seeds: list[int] | None = None) -> None:
    """The record of a trial whose process died: `retried` (as trial `again`) or `failed`. A record the
    job left (it ended, but its process died before telling the study) keeps what it measured. A
    seed-robust trial: each of its seed dirs but those that ended ok (the retry keeps their values)."""
    job = job_dir(config, number)
    if job is None or not job.is_dir():
        return
    for d in [job / seed_key(s) for s in seeds] if seeds else [job]:
        m: dict[str, Any] = read_metrics(d) or {}
        if not d.is_dir() or (seeds and m and status_of(m) == OK):
            continue
        m.update(failure_record(RETRIED if again is not None else FAILED,
                                why + (f"; retried as trial {again}" if again is not None else "")))
        write_metrics(d, m)


def record_superseded(job: Path | None, number: int, why: str, again: int | None) -> None:
    """Trial `number`'s job dir says `superseded` (what the job measured kept), and one line says so."""
    reason = why + (f"; retried as trial {again}" if again is not None else "; no retry left")
    log.warning("trial %d superseded: %s; its job stopped, taking the next trial", number, reason)
    if job is None:
        return
    m: dict[str, Any] = read_metrics(job) or {}
    m.update(failure_record(SUPERSEDED, reason))
    write_metrics(job, m)


def job_metrics_dir(ret) -> Path | None:
    try:
        return Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
    except Exception:  # noqa: BLE001 - the job never started
        return None


def job_metrics(ret) -> dict[str, Any] | None:
    try:
        return read_metrics(str(ret.hydra_cfg.hydra.runtime.output_dir))
    except Exception:  # noqa: BLE001 - no record: the trial failed
        return None


def tell(study, trial, values, state) -> None:
    """study.tell; a ValueError or UpdateFinishedTrialError when the trial was finished elsewhere
    meanwhile (the caller records it superseded)."""
    try:
        study.tell(trial, values=values, state=state)
    except RuntimeError as e:  # GridSampler calls study.stop() once the grid is done: the trial is
        if "Study.stop" not in str(e):  # stored; we stop by the grid's size ourselves
            raise


def outcome(trial, ret, objectives: dict[str, str], max_params: Any = None, seed: int | None = None):
    """(state, values, exception) of a finished job; its params (and, as Optuna's constraint,
    how far over max_params it is: > 0 is infeasible), dir (a seed job's: its trial's, the parent
    of the seeds') and model go to the trial."""
    from optuna.trial import TrialState

    m = job_metrics(ret)
    try:
        ret.return_value  # re-raises what a job raised (not isolated by run())
    except Exception as e:  # noqa: BLE001
        return TrialState.FAIL, None, e
    if m is None:
        return TrialState.FAIL, None, None
    if isinstance(m.get("params"), int):
        trial.set_user_attr("params", m["params"])
        if isinstance(max_params, int):
            trial.set_constraint("over_max_params", m["params"] - max_params)
    job = ret.hydra_cfg.hydra.runtime.output_dir
    trial.set_user_attr("job_dir", str(Path(str(job)).parent if seed is not None else job))
    status = status_of(m)
    if status != OK:
        trial.set_user_attr("status", f"{status}: {m.get('error', '')}"[:500])
        return (TrialState.PRUNED if status == PRUNED else TrialState.FAIL), None, None
    values = [m.get(k) for k in objectives]
    if not all(is_finite_number(v) for v in values):
        trial.set_user_attr("status", f"no finite value for {', '.join(objectives)} in metrics.json")
        return TrialState.FAIL, None, None
    try:
        trial.set_user_attr("model", OmegaConf.to_container(ret.cfg.model, resolve=False))
    except Exception:  # noqa: BLE001 - front/trial=N.yaml is left out for this trial
        pass
    return TrialState.COMPLETE, [float(v) for v in values], None
