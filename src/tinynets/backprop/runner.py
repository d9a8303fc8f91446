"""`python train.py experiment=backprop_sheet [sheet=eva] [lr=0.8] [iterations=200]`: one run of
the backprop sheet through Lightning, then sheet.csv, sheet.xlsx, loss.png and metrics.json in
the run dir: task=backprop_sheet's function (conf/task/backprop_sheet.yaml), called by
tinynets.run.task.run after the config checks; and the sheet's own config rules (`check_config`, which
its task and model contribute to those checks under `checks:`)."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import check_resolves, check_rules, is_int, number, numbers
from tinynets.errors import ConfigError

log = logging.getLogger("tinynets")

XLSX_MAX_ITERATIONS = 1_048_571  # sheet.xlsx: 1,048,576 rows at most, 4 header rows, row 0 .. N
TINY_SIGMOID = "tinynets.backprop.module.TinySigmoid"

# the sheet's keys -> rule (tinynets.checks.RULES has the ones every run shares)
RULES = {
    "iterations": (lambda v: is_int(v) and 1 <= v <= XLSX_MAX_ITERATIONS,
                   f"an integer from 1 to {XLSX_MAX_ITERATIONS} (the rows sheet.xlsx can hold)"),
    "sheet.w": numbers(8),
    "sheet.inputs": numbers(2),
    "sheet.targets": numbers(2),
    "sheet.b1": number(),
    "sheet.b2": number(),
    "model.atol": number(0),
    "model.check_autograd": (lambda v: isinstance(v, bool), "true or false"),
}


def check_config(cfg: DictConfig) -> None:
    """The sheet's rules, before anything is built (`checks.backprop_sheet` of its task and its model):
    the sheet's model and task go together (experiment=backprop_sheet sets both; checked first, as
    the model outside its experiment leaves ${sheet.*} unresolved), then the sheet's keys."""
    sheet_task = OmegaConf.select(cfg, "task.name", default="classify") == "backprop_sheet"
    tiny = OmegaConf.select(cfg, "model._target_", default=None) == TINY_SIGMOID
    if sheet_task and not tiny:
        name = HydraConfig.get().runtime.choices.get("model") if HydraConfig.initialized() else None
        raise ConfigError("model", name or OmegaConf.select(cfg, "model._target_", default=None),
                          "task=backprop_sheet runs model=tiny_sigmoid only (use experiment=backprop_sheet)")
    if tiny and not sheet_task:
        raise ConfigError("model", "tiny_sigmoid", "it is the backprop sheet's model: run experiment=backprop_sheet")
    check_resolves(cfg)
    check_rules(cfg, RULES)


def preset_name(cfg: DictConfig) -> str:
    """The sheet preset chosen (`sheet=eva`), marked when some of its values were overridden."""
    name = HydraConfig.get().runtime.choices.get("sheet") if HydraConfig.initialized() else None
    name = name or "custom"
    if HydraConfig.initialized() and any(o.lstrip("+~").startswith("sheet.")
                                         for o in HydraConfig.get().overrides.task):
        name += "*"
    return name


def check_sheet(cfg: DictConfig) -> None:
    """What the generic rules cannot see: the sheet's arithmetic is plain gradient descent, so
    the optimizer must be momentum-free SGD without weight decay and there is no scheduler.
    Targets a sigmoid cannot reach are allowed, with one warning line."""
    opt = cfg.optimizer
    plain = (opt.get("_target_") == "torch.optim.SGD" and not opt.get("momentum", 0)
             and not opt.get("weight_decay", 0) and not opt.get("nesterov", False)
             and not opt.get("dampening", 0))
    if not plain:
        raise ConfigError("optimizer", OmegaConf.to_container(opt, resolve=True),
                          "the sheet is plain gradient descent: use optimizer=sgd_plain")
    if OmegaConf.select(cfg, "scheduler.fn") is not None:
        raise ConfigError("scheduler", OmegaConf.select(cfg, "scheduler.fn._target_"),
                          "the sheet's lr is one constant cell: use scheduler=none")
    targets = list(cfg.sheet.targets)
    if not all(0 < t < 1 for t in targets):
        log.warning("warning: sheet.targets=%s lies outside (0, 1): a sigmoid output can only approach "
                    "it, so E_total cannot reach 0", targets)


def run_sheet(cfg: DictConfig) -> float:
    """Train, write the outputs, return E_total after the last update (the sweep objective)."""
    check_sheet(cfg)
    from tinynets.backprop.tiny import GradientMismatch
    from tinynets.config import choice, output_dir
    from tinynets.errors import fail
    from tinynets.process import quiet_lightning
    from tinynets.run.assemble import assemble, build

    quiet_lightning()
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    from tinynets.backprop.sheet import plot_loss, write_csv, write_xlsx
    from tinynets.run.metrics import sheet_metrics, write_metrics

    t_start = time.perf_counter()
    preset = preset_name(cfg)
    iterations = int(cfg.iterations)
    module = build(cfg.model, "model", choice(cfg, "model"),
                   optimizer=build(cfg.optimizer, "optimizer", choice(cfg, "optimizer")))
    datamodule = build(cfg.data, "data", choice(cfg, "data"))
    run = assemble(cfg)
    trainer, loggers = run.trainer, run.loggers
    hparams = hparams_of(cfg, preset)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(hparams, {"hp/E_total_0": 0.0, "hp/E_total_final": 0.0})
    t0 = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule)
    except GradientMismatch as e:
        fail(f"{e}\nstopped: fix the derivation in tinynets/backprop/tiny.py (model.check_autograd=false "
             "skips this check)", code=3)
    from tinynets.run.tensorboard import close_loggers

    close_loggers(loggers)
    rows = module.rows
    if len(rows) != iterations + 1:
        raise RuntimeError(f"expected {iterations + 1} sheet rows, got {len(rows)}: the run was cut short")
    fit_s = time.perf_counter() - t0

    out = output_dir(cfg)
    title = f"preset {preset}, lr = {cfg.lr:g}"
    write_csv(out / "sheet.csv", rows)
    write_xlsx(out / "sheet.xlsx", rows, title=f"Backpropagation by hand: 2-2-2 sigmoid network ({title})")
    plot_loss(out / "loss.png", rows, title=f"E_total, {title}")
    metrics = sheet_metrics(
        rows=rows, preset=preset, lr=float(cfg.lr), iterations=iterations,
        autograd_checked=bool(cfg.model.get("check_autograd", True)), fit_s=fit_s,
        wall_s=time.perf_counter() - t_start,
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
    )
    e0, en, half = metrics["E_total_0"], metrics["E_total_final"], metrics["iterations_to_half"]
    write_metrics(out, metrics)  # last: its presence means the run dir is complete
    log.info("backprop sheet %s: E_total %.9f -> %.9f after %d iterations%s | %s",
             title, e0, en, iterations,
             f" (halved at iteration {half})" if half is not None else " (never halved)", out)
    return en


def hparams_of(cfg: DictConfig, preset: str) -> dict[str, Any]:
    """The flat hyper-parameters shown in TensorBoard's HPARAMS tab."""
    hp: dict[str, Any] = {"task": "backprop_sheet", "preset": preset, "lr": float(cfg.lr),
                          "iterations": int(cfg.iterations)}
    for name, values in (("i", cfg.sheet.inputs), ("t", cfg.sheet.targets), ("w", cfg.sheet.w)):
        hp.update((f"{name}{k}", float(v)) for k, v in enumerate(values, start=1))
    hp.update(b1=float(cfg.sheet.b1), b2=float(cfg.sheet.b2))
    return hp
