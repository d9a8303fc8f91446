"""A Lightning run, assembled in one place for every task and the bench: `build` makes what a
config group names (its errors one line), `assemble` the Trainer with the logger group's loggers,
the callbacks group's callbacks and the ones a classifier's run always has."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import BuildError
from tinynets.config import choice, output_dir, task_overrides
from tinynets.errors import UserError
from tinynets.process import global_rank


def build(node: DictConfig, key: str, value: Any, *, call: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """hydra.utils.instantiate (then call the partial it made with `call`), with a bad config
    group's error as one line (BuildError)."""
    try:
        obj = instantiate(node, **kwargs)
        return obj(**call) if call is not None else obj
    except UserError:  # already one line (a rule of ours, missing data)
        raise
    except Exception as e:  # noqa: BLE001 - the library's message names what is wrong
        if isinstance(e.__cause__, UserError):  # ours, raised by what instantiate called (which wraps it)
            raise e.__cause__ from None
        raise BuildError(key, value, e) from None


def build_module(cfg: DictConfig, net: Any, model_name: str) -> Any:
    """The classifier LightningModule of `cfg`'s run around `net`: the model group's object with the
    optimizer and scheduler groups and the top-level channels_last, compile and label_smoothing."""
    return build(cfg.model, "model", model_name, net=net, optimizer=cfg.optimizer, scheduler=cfg.scheduler,
                 channels_last=cfg.channels_last, compile=cfg.get("compile", False),
                 label_smoothing=cfg.get("label_smoothing", 0.0))


@dataclass
class Run:
    """What `assemble` made: the trainer, its loggers, and the always-on callbacks a task reads back."""

    trainer: Any
    loggers: list[Any]
    history: Any = None  # callbacks.History of a classifier's run
    pruning: Any = None  # callbacks.OptunaPruning of a search trial


def assemble(cfg: DictConfig, *, model: tuple[str, int] | None = None, trial: Any = None,
             floor: tuple[int, float] | None = None,
             callbacks: Sequence[Any] = (), verbose: bool = True, **trainer_kwargs: Any) -> Run:
    """The Trainer of `cfg`'s run: the logger and callbacks groups' objects, then (for a classifier,
    `model` = its name and params) the callbacks it always has (History, EpochSeed, DivergenceGuard,
    RunIdentity, Curves; OptunaPruning for a search `trial`, else FloorStop for a search's
    `floor`), then `callbacks`; `trainer_kwargs` override the trainer group. Every object is built with one-line errors."""
    loggers = [build(c, f"logger.{k}", OmegaConf.select(c, "_target_"))
               for k, c in cfg.get("logger", {}).items() if c]
    chosen = [build(c, f"callbacks.{k}", OmegaConf.select(c, "_target_"))
              for k, c in cfg.get("callbacks", {}).items() if c]
    if OmegaConf.select(cfg, "averaging._target_"):  # the averaging group (none: no callback)
        chosen.append(build(cfg.averaging, "averaging", choice(cfg, "averaging")))
    run = Run(trainer=None, loggers=loggers)
    always: list[Any] = []
    if model is not None:
        from tinynets.run.callbacks import (
            Curves,
            DivergenceGuard,
            EpochSeed,
            FloorStop,
            History,
            OptunaPruning,
            RunIdentity,
        )

        model_name, params = model
        run.history = History(verbose=verbose and global_rank() == 0)  # one epoch line, not one per DDP rank
        always = [run.history, EpochSeed(cfg.seed), DivergenceGuard(),
                  RunIdentity(model_name, params, task_overrides(), output_dir(cfg)),
                  Curves(output_dir(cfg) / "curves.png", run.history, cfg.target_acc)]
        if trial is not None:
            run.pruning = OptunaPruning(trial)
        elif floor is not None:
            run.pruning = FloorStop(*floor)
        if run.pruning is not None:
            always.append(run.pruning)
    if cfg.trainer.get("enable_progress_bar") is None and "enable_progress_bar" not in trainer_kwargs:
        trainer_kwargs["enable_progress_bar"] = sys.stderr.isatty()
    run.trainer = build(cfg.trainer, "trainer", choice(cfg, "trainer"), callbacks=[*chosen, *always, *callbacks],
                        logger=loggers or False, **trainer_kwargs)
    return run
