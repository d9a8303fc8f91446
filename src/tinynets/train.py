"""`python train.py ...`: compose the run from the config groups, train, test, report.

Everything heavy is imported here, not in the top-level train.py, so `--help` stays fast."""

from __future__ import annotations

import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tinynets.config import ConfigError, check, check_params
from tinynets.data.prepare import DataError

log = logging.getLogger("tinynets")


def choice(cfg: DictConfig, group: str) -> str | None:
    """The option chosen for a config group (`model=gap_fc` -> "gap_fc")."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    target = OmegaConf.select(cfg, f"{group}.net._target_") or OmegaConf.select(cfg, f"{group}._target_")
    return target.rsplit(".", 1)[-1] if target else None


def device_name(accelerator: str) -> str:
    import torch

    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def quiet_lightning() -> None:
    """Lightning adds its own console handler at import (every line would print twice under
    Hydra's logging) and advertises a cloud logger at each fit: keep its useful lines only."""
    import warnings

    import lightning  # noqa: F401

    logging.getLogger("lightning").handlers.clear()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: not str(record.msg).startswith("💡 Tip")
    )
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def run(cfg: DictConfig) -> float | None:
    """Train and test one configuration; returns the best eval accuracy (the sweep objective)."""
    try:
        check(cfg)  # cheap: before torch is even imported
        if cfg.get("task") == "backprop_sheet":
            from tinynets.backprop.runner import run_sheet

            return run_sheet(cfg)
        return _run(cfg)
    except (ConfigError, DataError) as e:
        fail(str(e))
    return None


def _run(cfg: DictConfig) -> float | None:
    model_name = choice(cfg, "model") or "model"
    net = instantiate(cfg.model.net)  # torch only: the params check comes before Lightning
    params = sum(p.numel() for p in net.parameters())
    check_params(model_name, params, cfg.max_params)

    import lightning as L

    quiet_lightning()
    from tinynets.callbacks import History
    from tinynets.models.zoo import WRITEUPS
    from tinynets.report import run_metrics, verdict_block, write_json

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # before anything is written: a data error leaves no half run

    loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c]
    history = History()
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c] + [history]
    trainer_kwargs: dict[str, Any] = {}
    if cfg.trainer.get("enable_progress_bar") is None:
        trainer_kwargs["enable_progress_bar"] = sys.stderr.isatty()
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **trainer_kwargs)

    module = instantiate(cfg.model, net=net, optimizer=cfg.optimizer, scheduler=cfg.scheduler,
                         channels_last=cfg.channels_last, compile=cfg.get("compile", False))
    flags = net.flags
    hparams = hparams_of(cfg, model_name, params)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(hparams, {"hp/best_val_acc": 0.0, "hp/test_acc": 0.0, "hp/params": float(params)})

    t0 = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_s = time.perf_counter() - t0
    # on a holdout, test the checkpoint the holdout chose; on the test set, the final weights
    use_best = datamodule.eval_set == "holdout" and trainer.checkpoint_callback is not None \
        and trainer.checkpoint_callback.best_model_path
    test = trainer.test(module, datamodule=datamodule, ckpt_path="best" if use_best else None, verbose=False)
    test_acc = float(test[0]["test/acc"]) if test else None

    metrics = run_metrics(
        model=model_name, params=params, flags=flags, history=history.records, test_acc=test_acc,
        eval_set=datamodule.eval_set, lr=cfg.lr, seed=cfg.seed, target_acc=cfg.target_acc,
        target_epochs=cfg.target_epochs, max_params=cfg.max_params,
        test_weights="best-on-holdout" if use_best else "final",
        fit_s=round(fit_s, 2), wall_s=round(time.perf_counter() - t0, 2), first_step_s=history.first_step_s,
        device=device_name(str(cfg.trainer.get("accelerator", "cpu"))),
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        status="ok",
    )
    for lg in loggers:
        lg.log_metrics({"hp/best_val_acc": metrics["best_val_acc"] or 0.0, "hp/test_acc": test_acc or 0.0,
                        "hp/params": float(params)}, step=trainer.global_step)
        lg.finalize("success")
    write_json(output_dir(cfg) / "metrics.json", metrics)
    log.info("\n" + verdict_block(metrics, WRITEUPS.get(model_name), cfg.max_params, cfg.target_epochs))
    log.info("Run dir: %s", output_dir(cfg))
    return metrics["best_val_acc"]


def hparams_of(cfg: DictConfig, model_name: str, params: int) -> dict[str, Any]:
    """The flat hyper-parameters shown in TensorBoard's HPARAMS tab."""
    hp: dict[str, Any] = {
        "model": model_name,
        "params": params,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "optimizer": choice(cfg, "optimizer"),
        "scheduler": choice(cfg, "scheduler"),
        "dropout": OmegaConf.select(cfg, "dropout.p"),
        "batch_size": OmegaConf.select(cfg, "data.batch_size"),
        "max_epochs": cfg.trainer.max_epochs,
        "rotation": OmegaConf.select(cfg, "data.augment.rotation"),
    }
    if HydraConfig.initialized():
        for o in HydraConfig.get().overrides.task:
            key, _, value = o.partition("=")
            hp.setdefault(key.lstrip("+~"), value)
    return {k: v for k, v in hp.items() if v is not None}
