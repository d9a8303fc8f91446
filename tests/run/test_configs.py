"""Every option of every config group composes, resolves and instantiates."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from tests.helpers import CONF

OPTIONS = sorted(
    (group.name, f.stem)
    for group in CONF.iterdir()
    if group.is_dir() and group.name != "hydra"
    for f in group.glob("*.yaml")
)


# options that only exist inside the backprop sheet's experiment (it supplies `sheet` and `iterations`)
IN_SHEET_EXPERIMENT = {("model", "tiny_sigmoid"), ("data", "sheet_sample"), ("task", "backprop_sheet")}


def test_every_group_has_options():
    groups = {g for g, _ in OPTIONS}
    assert {"data", "model", "optimizer", "scheduler", "dropout", "trainer", "logger", "callbacks",
            "paths", "experiment", "debug", "sheet", "task"} <= groups


def test_each_task_names_the_function_that_runs_it(make_cfg):
    """train.run dispatches on `task.run` alone; experiment=backprop_sheet selects its task."""
    from hydra.utils import get_method

    from tinynets.backprop.runner import run_sheet
    from tinynets.run.classify import classify

    assert make_cfg().hydra.runtime.choices.task == "classify"
    assert get_method(make_cfg().task.run) is classify
    cfg = make_cfg("experiment=backprop_sheet")
    assert (cfg.hydra.runtime.choices.task, cfg.task.name) == ("backprop_sheet", "backprop_sheet")
    assert get_method(cfg.task.run) is run_sheet


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(make_cfg, group, option):
    context = ["experiment=backprop_sheet"] if group == "sheet" or (group, option) in IN_SHEET_EXPERIMENT else []
    cfg = make_cfg(*context, f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.hydra.runtime.choices[group] == option

    if "net" in cfg.model:
        net = instantiate(cfg.model.net)
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        params = list(net.parameters())
    else:
        params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = instantiate(cfg.optimizer)(params=params)
    assert optimizer.param_groups[0]["lr"] == cfg.lr
    fn = instantiate(cfg.scheduler).get("fn") if "scheduler" in cfg else None
    if fn is not None:
        kwargs = {"total_steps": 10} if "OneCycle" in cfg.scheduler.fn._target_ else {}
        scheduler = fn(optimizer, **kwargs)
        optimizer.step()
        scheduler.step()
    if "_target_" in cfg.get("data", {}):
        instantiate(cfg.data)  # constructing a datamodule touches no files
    for name, cb in cfg.get("callbacks", {}).items():
        built = instantiate(cb)  # a Lightning callback of the class the config names
        assert isinstance(built, Callback) and type(built) is get_class(cb._target_), name


def test_trainer_configs_build_a_trainer(make_cfg, tmp_path):
    """The trainer group's values reach the Trainer that tinynets.run.assemble.assemble builds, with the
    callbacks group's and a classifier's always-on callbacks."""
    from lightning.pytorch.accelerators import CPUAccelerator

    from tinynets.run.assemble import assemble

    for option in ("default", "cpu"):
        cfg = make_cfg(f"trainer={option}", "trainer.max_epochs=3", "logger=none")
        trainer = assemble(cfg, model=("gap_fc", 19_629), enable_progress_bar=False).trainer
        assert (trainer.max_epochs, trainer.num_sanity_val_steps, trainer.check_val_every_n_epoch) == (3, 0, 1)
        assert trainer.log_every_n_steps == 50 and trainer.default_root_dir == cfg.paths.output_dir
        assert isinstance(trainer.accelerator, CPUAccelerator) and trainer.precision == "32-true"
        kinds = [type(c).__name__ for c in trainer.callbacks]
        assert {"ModelCheckpoint", "TestFigures", "History", "Curves", "EpochSeed", "DivergenceGuard",
                "RunIdentity"} <= set(kinds) and "OptunaPruning" not in kinds


def test_onecycle_takes_total_steps_from_the_trainer(make_cfg):
    """OneCycle gets its total steps from the trainer (epochs x batches), not from the config."""
    from types import SimpleNamespace

    cfg = make_cfg("scheduler=onecycle", "model=deep_narrow", "lr=0.05")
    module = instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler)
    module.trainer = SimpleNamespace(estimated_stepping_batches=7)  # what Lightning computes
    conf = module.configure_optimizers()
    sched = conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    assert sched.total_steps == 7
    assert max(g["max_lr"] for g in sched.optimizer.param_groups) == pytest.approx(0.05)


def test_dropout_group_reaches_every_layer(make_cfg):
    cfg = make_cfg("model=gap_conv", "dropout.p=0.069")
    net = instantiate(cfg.model.net)
    ps = {m.p for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)}
    assert ps == {0.069}
    assert not instantiate(make_cfg("model=gap_conv", "dropout=none").model.net).flags["uses_dropout"]


def test_the_defaults_are_our_best_recipe_and_write_up_recipes_do_not_inherit_it(make_cfg):
    """`python train.py` trains experiment=sep's recipe; a write-up's experiment replaces every
    part of it (no rotation, its own scheduler, lr, dropout and epochs)."""
    keys = ("model.net._target_", "optimizer._target_", "scheduler.fn._target_", "lr", "dropout.rate",
            "data.batch_size", "data.augment.rotation", "data.augment.translate", "data.augment.scale",
            "trainer.max_epochs")
    from omegaconf import OmegaConf

    def pick(cfg):
        return {k: OmegaConf.select(cfg, k) for k in keys}

    assert pick(make_cfg()) == pick(make_cfg("experiment=sep"))
    assert pick(make_cfg())["model.net._target_"].endswith(".sep")
    for name in ("gap_fc", "gap_conv", "transition", "aggregator", "deep_narrow"):
        cfg = make_cfg(f"experiment={name}")
        assert cfg.data.augment.rotation == cfg.data.augment.translate == cfg.data.augment.scale == 0.0, name
        assert OmegaConf.select(cfg, "scheduler.fn._target_") != "torch.optim.lr_scheduler.OneCycleLR", name
