"""task=classify: train and test one MNIST configuration, resumed or skipped where its run dir
already holds it, and its record (metrics.json, TensorBoard, the "Submission Info" block)."""

from __future__ import annotations

import logging
import os
import platform
import time
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import ConfigError, check_params
from tinynets.run import resume
from tinynets.run.assemble import assemble, build, build_module
from tinynets.run.resume import Diverged
from tinynets.runtime import (
    choice,
    device_name,
    in_multirun,
    output_dir,
    quiet_lightning,
    task_overrides,
)
from tinynets.search import trial as search

log = logging.getLogger("tinynets")


def classify(cfg: DictConfig) -> float | None:
    """task=classify: train and test one configuration; returns the best eval accuracy. A run
    dir that already holds this run is resumed or, when complete, not run again (tinynets.run.resume)."""
    if search.trial_number(cfg) is not None:
        search.check_holdout(cfg)
    check_launch(cfg, in_multirun())
    plan = resume.plan(output_dir(cfg), task_overrides(), bool(cfg.get("resume", True)))
    if plan.done is not None:
        log.info("%s holds this run, complete (status %s, best val acc %s): not run again "
                 "(resume=false runs it again)", output_dir(cfg), plan.done.get("status"),
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
    import torch

    plan = plan or resume.Plan()
    model_name = choice(cfg, "model") or "model"
    torch.manual_seed(cfg.seed)  # the initial weights too come from the seed
    net = build(cfg.model.net, "model", model_name)  # torch only: the params check comes before Lightning
    params = sum(p.numel() for p in net.parameters())
    check_params(model_name, params, cfg.max_params)
    # the optimizer is built inside fit(): try its arguments now, for a one-line error
    build(cfg.optimizer, "optimizer", choice(cfg, "optimizer"), call={"params": [torch.nn.Parameter(torch.zeros(1))]})
    trial = search.open_trial(cfg)  # a search trial reports its val accuracy to Optuna's pruner

    import lightning as L

    quiet_lightning()
    from tinynets.run.metrics import DIVERGED, OK, PRUNED, code_version, run_metrics, verdict_block, write_metrics
    from tinynets.run.tensorboard import close_loggers

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data, "data", choice(cfg, "data"))
    datamodule.prepare_data()  # before anything is written: a data error leaves no half run

    run = assemble(cfg, model=(model_name, params), trial=trial)
    trainer, loggers, history, pruning = run.trainer, run.loggers, run.history, run.pruning

    module = build_module(cfg, net, model_name)
    if plan.ckpt is not None:
        resume.check_weights_fit(plan.ckpt, module, model_name, params, output_dir(cfg))
        log.info("Resuming from %s", plan.ckpt)
        import warnings

        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    flags = net.flags
    hparams = hparams_of(cfg, model_name, params)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(hparams, {"hp/best_val_acc": 0.0, "hp/test_acc": 0.0, "hp/params": float(params)})

    code = code_version()
    t0 = time.perf_counter()

    def metrics_now(**extra: Any) -> dict[str, Any]:
        return run_metrics(
            model=model_name, params=params, flags=flags, history=history.records,
            eval_set=datamodule.eval_set, lr=cfg.lr, seed=cfg.seed, target_acc=cfg.target_acc,
            target_epochs=cfg.target_epochs, max_params=cfg.max_params,
            device=device_name(str(cfg.trainer.get("accelerator", "cpu"))), overrides=task_overrides(),
            world_size=trainer.world_size, host=platform.node(), pid=os.getpid(), code=code, **extra)

    try:
        # weights_only: Lightning unpickles plain data only (our checkpoints hold nothing else)
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(plan.ckpt) if plan.ckpt else None,
                    weights_only=True)
    except Diverged as e:
        log.error("error: %s", e)
        if trainer.is_global_zero:
            write_metrics(output_dir(cfg), metrics_now(
                test_acc=None, status=DIVERGED, error=str(e), fit_s=round(time.perf_counter() - t0, 2),
                wall_s=round(time.perf_counter() - t0, 2)))
        raise
    fit_s = time.perf_counter() - t0
    # on a holdout, test the checkpoint the holdout chose; on the test set, the final weights
    use_best = datamodule.eval_set == "holdout" and trainer.checkpoint_callback is not None \
        and trainer.checkpoint_callback.best_model_path
    pruned = pruning.reason if pruning is not None else None
    test_acc = None
    # a pruned trial is not worth a test pass; a search trial never sees the test set, so that
    # nothing chosen from a search's leaderboard or front was chosen on it
    if not pruned and search.trial_number(cfg) is None:
        test = trainer.test(module, datamodule=datamodule, ckpt_path="best" if use_best else None,
                            verbose=False, weights_only=True)
        test_acc = float(test[0]["test/acc"]) if test else None

    metrics = metrics_now(
        test_acc=test_acc, test_weights="best-on-holdout" if use_best else "final",
        fit_s=round(fit_s, 2), wall_s=round(time.perf_counter() - t0, 2), first_step_s=history.first_step_s,
        resumed_from=str(plan.ckpt) if plan.ckpt else None,
        status=PRUNED if pruned else OK,
        **({"error": pruned} if pruned else {}),
    )
    for lg in loggers:
        lg.log_metrics({"hp/best_val_acc": metrics["best_val_acc"] or 0.0, "hp/test_acc": test_acc or 0.0,
                        "hp/params": float(params)}, step=trainer.global_step)
    close_loggers(loggers)
    if trainer.is_global_zero:
        write_metrics(output_dir(cfg), metrics)
        if pruned:
            log.info("Trial pruned %s", pruned)
        log.info("\n" + verdict_block(metrics, OmegaConf.select(cfg, "model.writeup.id"), cfg.max_params,
                                         cfg.target_epochs))
        log.info("Run dir: %s", output_dir(cfg))
    return None if pruned else metrics["best_val_acc"]


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
            key, _, value = o.partition("=")
            hp.setdefault(key.lstrip("+~"), value)
    return {k: v for k, v in hp.items() if v is not None}
