"""task=classify: train and test one MNIST configuration, resumed or skipped where its run dir
already holds it, and its record (metrics.json, TensorBoard, the "Submission Info" block); the run's
steps are tinynets.run.context.RunContext's."""

from __future__ import annotations

import logging
import os

from omegaconf import DictConfig, OmegaConf

from tinynets.config import in_multirun, output_dir, task_overrides
from tinynets.errors import ConfigError
from tinynets.run import resume
from tinynets.run.context import RunContext
from tinynets.run.metrics import status_of
from tinynets.run.resume import Diverged
from tinynets.run.trial import check_holdout, trial_number

log = logging.getLogger("tinynets")


def classify(cfg: DictConfig) -> float | None:
    """task=classify: train and test one configuration; returns the best eval accuracy. A run
    dir that already holds this run is resumed or, when complete, not run again (tinynets.run.resume)."""
    if trial_number(cfg) is not None:
        check_holdout(cfg)
    check_launch(cfg, in_multirun())
    plan = resume.plan(output_dir(cfg), task_overrides(), bool(cfg.get("resume", True)))
    if plan.done is not None:
        log.info("%s holds this run, complete (status %s, best val acc %s): not run again "
                 "(resume=false runs it again)", output_dir(cfg), status_of(plan.done),
                 plan.done.get("best_val_acc"))
        return resume.objective_of(plan.done)
    return _run(cfg, plan)


EXTERNAL_LAUNCHERS = ("SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "OMPI_COMM_WORLD_SIZE", "LSB_JOBID")


def check_launch(cfg: DictConfig, multirun: bool) -> None:
    """Lightning starts DDP's other ranks by running the same command again: in a local
    multirun that command is the whole sweep. A cluster launcher (SLURM, torchrun) starts the
    ranks itself, and a single run is fine."""
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="auto"))
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    if multirun and "ddp" in strategy and str(devices) != "1" \
            and not any(v in os.environ for v in EXTERNAL_LAUNCHERS):
        raise ConfigError("trainer.strategy", strategy, "DDP with several devices in a local multirun (Lightning "
                          "would start the whole sweep again per rank): run it as single runs, or sweep on "
                          "SLURM (hydra/launcher=slurm, one task per device)")


def _run(cfg: DictConfig, plan: resume.Plan | None = None) -> float | None:
    """Train and test `cfg`'s classifier, then write its record; returns its best eval accuracy (None
    for a pruned trial). The steps are RunContext's (tinynets.run.context)."""
    run = RunContext.start(cfg, plan or resume.Plan())
    try:
        run.fit()
    except Diverged as e:
        run.record_divergence(e)
        raise
    metrics = run.finish(test_acc=run.test())
    return None if run.pruned else metrics["best_val_acc"]
