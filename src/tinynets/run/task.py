"""The task a run is (conf/task/: `classify`, tinynets.run.classify; `backprop_sheet`,
tinynets.backprop.runner): `run(cfg)` checks the composed config, calls the task's function and, in
a multirun, turns a job's failure into its metrics.json record so that the sweep goes on."""

from __future__ import annotations

import logging
import time
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import OverBudget, check
from tinynets.config import choice, in_multirun, output_dir, task_overrides
from tinynets.errors import UserError, fail, one_line
from tinynets.process import global_rank
from tinynets.run.metrics import FAILED, PRUNED
from tinynets.run.resume import Diverged, ResumeRefused
from tinynets.run.trial import Superseded, trial_number

log = logging.getLogger("tinynets")


def run(cfg: DictConfig) -> float | None:
    """Check the config, hand it to the chosen task's function (`task.run`, conf/task/) and
    return what that returns (the sweep objective).

    A single run stops at a bad input (a UserError) with one line and exit status 2, at a divergence
    with one line and status 1 (tinynets.errors.fail prints both). In a multirun a job's failure does
    not stop the sweep: the job records it in its metrics.json (`status: failed|diverged` and
    `error`, or `pruned` for a search trial over max_params) and returns None; the leaderboard shows
    it and the sweep exits non-zero at the end (tinynets.search.leaderboard)."""
    t0 = time.perf_counter()
    multirun = in_multirun()
    try:
        check(cfg)  # cheap: before torch is even imported
        return get_method(cfg.task.run)(cfg)
    except Diverged as e:  # _run wrote metrics.json (status: diverged)
        if not multirun:
            fail(e, code=1)
    except ResumeRefused as e:  # the dir holds another run: leave it as it is
        if not multirun:
            fail(e)
        log.error("error: %s", e)
    except OverBudget as e:
        if not multirun:
            fail(e)
        in_search = trial_number(cfg) is not None
        record_failure(cfg, PRUNED if in_search else FAILED,
                       f"over max_params ({e.params:,} params > {e.max_params:,})" if in_search else str(e),
                       t0, params=e.params)
    except Superseded:  # its study failed the trial elsewhere: the sweeper records the job dir and says so
        pass
    except UserError as e:  # a config value, missing data, an unreadable file...
        if not multirun:
            fail(e)
        record_failure(cfg, FAILED, str(e), t0)
    except Exception as e:
        if not multirun:
            raise
        log.error("job failed: %s", one_line(e), exc_info=True)  # the traceback goes to the job's log
        record_failure(cfg, FAILED, f"{type(e).__name__}: {one_line(e)}", t0)
    return None


def record_failure(cfg: DictConfig, status: str, reason: str, t0: float, **extra: Any) -> None:
    """A job's metrics.json when it could not finish: what it was, its status and why."""
    from tinynets.run.metrics import failure_record, write_metrics

    log.error("%s: %s", status, reason)
    if global_rank() != 0:
        return
    write_metrics(output_dir(cfg), failure_record(
        status, reason, model=choice(cfg, "model"), **extra,
        lr=OmegaConf.select(cfg, "lr", default=None, throw_on_resolution_failure=False),
        seed=OmegaConf.select(cfg, "seed", default=None, throw_on_resolution_failure=False),
        overrides=task_overrides(), wall_s=round(time.perf_counter() - t0, 2)))
