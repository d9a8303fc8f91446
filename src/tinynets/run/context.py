"""One classifier run's context (`RunContext`): what task=classify builds once from the config (the
network and its param count, the datamodule, the Trainer with its loggers and callbacks, the module,
the code version, the start time) and the steps that use it: fit, test, the record (`metrics`) and
its end (TensorBoard's last scalars, metrics.json, the "Submission Info" block)."""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import check_params
from tinynets.config import choice, output_dir, task_overrides
from tinynets.overrides import key_value
from tinynets.process import device_name, quiet_lightning
from tinynets.run import resume
from tinynets.run.assemble import assemble, build, build_module
from tinynets.run.trial import search_side, trial_number

log = logging.getLogger("tinynets")


@dataclass
class RunContext:
    """A classifier run, built once by `start`; its methods are the steps of tinynets.run.classify._run."""

    cfg: DictConfig
    plan: resume.Plan
    model_name: str
    params: int
    flags: dict[str, bool]
    datamodule: Any
    trainer: Any
    loggers: list[Any]
    history: Any  # callbacks.History: the per-epoch records
    pruning: Any  # callbacks.OptunaPruning of a search trial, else None
    module: Any
    code: dict[str, Any] = field(default_factory=dict)  # metrics.code_version(): the commit that ran
    t0: float = 0.0  # time.perf_counter() when fit starts
    cpu0: float = 0.0  # time.process_time() when the run started: a search worker runs many jobs in one process
    fit_s: float | None = None  # how long fit took

    @classmethod
    def start(cls, cfg: DictConfig, plan: resume.Plan) -> RunContext:
        """Build everything the run needs, a bad input failing (one line) before anything is written:
        the network (its params within max_params), the optimizer's arguments, the data (prepared),
        then the Trainer and the module, resumed from plan.ckpt when there is one."""
        import torch

        cpu0 = time.process_time()
        model_name = choice(cfg, "model") or "model"
        torch.manual_seed(cfg.seed)  # the initial weights too come from the seed
        net = build(cfg.model.net, "model", model_name)  # torch only: the params check comes before Lightning
        params = sum(p.numel() for p in net.parameters())
        check_params(model_name, params, cfg.max_params)
        # the optimizer is built inside fit(): try its arguments now, for a one-line error
        build(cfg.optimizer, "optimizer", choice(cfg, "optimizer"),
              call={"params": [torch.nn.Parameter(torch.zeros(1))]})
        search = search_side(cfg)  # a search trial's side, from its sweeper (tinynets.run.trial)
        trial = search.trial()  # a search trial reports its val accuracy to Optuna's pruner

        import lightning as L

        from tinynets.run.metrics import code_version, mark_running

        quiet_lightning()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = build(cfg.data, "data", choice(cfg, "data"))
        datamodule.prepare_data()  # before anything is written: a data error leaves no half run
        run = assemble(cfg, model=(model_name, params), trial=trial, floor=search.floor(),
                       callbacks=search.callbacks())
        module = build_module(cfg, net, model_name)
        if plan.ckpt is not None:
            resume.check_weights_fit(plan.ckpt, module, model_name, params, output_dir(cfg))
            log.info("Resuming from %s", plan.ckpt)
            import warnings

            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        ctx = cls(cfg=cfg, plan=plan, model_name=model_name, params=params, flags=net.flags,
                  datamodule=datamodule, trainer=run.trainer, loggers=run.loggers, history=run.history,
                  pruning=run.pruning, module=module)
        hparams = hparams_of(cfg, model_name, params)
        for lg in ctx.loggers:
            if hasattr(lg, "log_hyperparams"):
                lg.log_hyperparams(hparams, {"hp/best_val_acc": 0.0, "hp/test_acc": 0.0, "hp/params": float(params)})
        ctx.code = code_version()
        if ctx.trainer.is_global_zero:  # until metrics.json: another worker of the sweep sees the job running
            mark_running(ctx.run_dir)
        ctx.t0, ctx.cpu0 = time.perf_counter(), cpu0
        return ctx

    @property
    def run_dir(self) -> Path:
        return output_dir(self.cfg)

    def seconds(self) -> float:
        """Seconds since `start` finished (fit's start), to 0.01."""
        return round(time.perf_counter() - self.t0, 2)

    def metrics(self, **extra: Any) -> dict[str, Any]:
        """The run's record now (tinynets.run.metrics.run_metrics), with `extra` fields."""
        from tinynets.run.metrics import run_metrics

        cfg = self.cfg
        return run_metrics(
            model=self.model_name, params=self.params, flags=self.flags, history=self.history.records,
            eval_set=self.datamodule.eval_set, lr=cfg.lr, seed=cfg.seed, target_acc=cfg.target_acc,
            target_epochs=cfg.target_epochs, max_params=cfg.max_params,
            device=device_name(str(cfg.trainer.get("accelerator", "cpu"))), overrides=task_overrides(),
            world_size=self.trainer.world_size, host=platform.node(), pid=os.getpid(),
            slurm_job=os.environ.get("SLURM_JOB_ID"), code=self.code, **extra)

    def fit(self) -> None:
        """Train (from plan.ckpt when resuming); Lightning unpickles plain data only (weights_only: our
        checkpoints hold nothing else)."""
        ckpt = self.plan.ckpt
        self.trainer.fit(self.module, datamodule=self.datamodule, ckpt_path=str(ckpt) if ckpt else None,
                         weights_only=True)
        self.fit_s = time.perf_counter() - self.t0

    def record_divergence(self, e: Exception) -> None:
        """metrics.json of a run that diverged (status `diverged`, the error line)."""
        from tinynets.run.metrics import DIVERGED, write_metrics

        log.error("error: %s", e)
        if self.trainer.is_global_zero:
            write_metrics(self.run_dir, self.metrics(test_acc=None, status=DIVERGED, error=str(e),
                                                     fit_s=self.seconds(), wall_s=self.seconds()))

    @property
    def pruned(self) -> str | None:
        """Why the pruner stopped this search trial, or None."""
        return self.pruning.reason if self.pruning is not None else None

    def tests_best(self) -> bool:
        """On a holdout, the test pass tests the checkpoint the holdout chose; on the test set, the final weights."""
        ckpt = self.trainer.checkpoint_callback
        return bool(self.datamodule.eval_set == "holdout" and ckpt is not None and ckpt.best_model_path)

    def test(self) -> float | None:
        """The test accuracy, or None: a pruned trial is not worth a test pass, and a search trial never
        sees the test set (nothing chosen from a search's leaderboard or front was chosen on it)."""
        if self.pruned or trial_number(self.cfg) is not None:
            return None
        test = self.trainer.test(self.module, datamodule=self.datamodule,
                                 ckpt_path="best" if self.tests_best() else None, verbose=False, weights_only=True)
        return float(test[0]["test/acc"]) if test else None

    def finish(self, test_acc: float | None) -> dict[str, Any]:
        """The record of the finished run: TensorBoard's last scalars, the loggers closed, metrics.json
        (rank 0) and the "Submission Info" block logged. Returns the record."""
        from tinynets.run.metrics import OK, PRUNED, verdict_block, write_metrics
        from tinynets.run.tensorboard import close_loggers

        pruned, cfg = self.pruned, self.cfg
        metrics = self.metrics(
            test_acc=test_acc, test_weights="best-on-holdout" if self.tests_best() else "final",
            fit_s=round(self.fit_s, 2), wall_s=self.seconds(), first_step_s=self.history.first_step_s,
            cpu_s=round(time.process_time() - self.cpu0, 2),  # this run's CPU seconds (all threads), from its start
            resumed_from=str(self.plan.ckpt) if self.plan.ckpt else None,
            status=PRUNED if pruned else OK,
            **({"error": pruned} if pruned else {}),
        )
        for lg in self.loggers:
            lg.log_metrics({"hp/best_val_acc": metrics["best_val_acc"] or 0.0, "hp/test_acc": test_acc or 0.0,
                            "hp/params": float(self.params)}, step=self.trainer.global_step)
        close_loggers(self.loggers)
        if self.trainer.is_global_zero:
            write_metrics(self.run_dir, metrics)
            if pruned:
                log.info("Trial pruned %s", pruned)
            log.info("\n" + verdict_block(metrics, OmegaConf.select(cfg, "model.writeup.id"), cfg.max_params,
                                             cfg.target_epochs))
            log.info("Run dir: %s", self.run_dir)
        return metrics


def hparams_of(cfg: DictConfig, model_name: str, params: int) -> dict[str, Any]:
    """The flat hyper-parameters shown in TensorBoard's HPARAMS tab."""
    hp: dict[str, Any] = {
        "model": model_name,
        "params": params,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "optimizer": choice(cfg, "optimizer"),
        "scheduler": choice(cfg, "scheduler"),
        "dropout": OmegaConf.select(cfg, "dropout.rate"),
        "batch_size": OmegaConf.select(cfg, "data.batch_size"),
        "max_epochs": cfg.trainer.max_epochs,
        "rotation": OmegaConf.select(cfg, "data.augment.rotation"),
        "label_smoothing": cfg.get("label_smoothing", 0.0),
    }
    if HydraConfig.initialized():
        for o in HydraConfig.get().overrides.task:
            key, value = key_value(o)
            hp.setdefault(key, value)
    return {k: v for k, v in hp.items() if v is not None}
