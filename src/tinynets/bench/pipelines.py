"""The three pipelines the bench times, each building its objects from one composed config and
returning a Measurement: (a) the write-ups' pipeline, (b) tinynets + Lightning, (c) the raw loop."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tinynets.bench import CONF, ROOT
from tinynets.bench.clock import Measurement, StepClock, peak_memory, status_kb

# (a)'s key in results.json stays "seed", its name before it was called the write-ups' pipeline, so
# results.json files old and new, and the README rendered from them, read the same
WRITEUPS = "seed"
PIPELINES = (WRITEUPS, "tinynets", "raw")
LABELS = {
    WRITEUPS: "(a) write-ups' pipeline",
    "tinynets": "(b) tinynets + Lightning",
    "raw": "(c) raw tensor loop",
}


def compose(overrides: Sequence[str], output_dir: Path):
    """conf/train.yaml composed as `python train.py` would, without running a Hydra job."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from tinynets.checks import check

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = hydra_compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    check(cfg)
    return cfg


def device_of(cfg):
    import torch

    acc = str(cfg.trainer.get("accelerator", "auto"))
    if acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _autocast(cfg, device):
    import torch

    if str(cfg.trainer.get("precision", "32-true")).startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_writeups(cfg, warmup: int, steps: int, workers: int = 2) -> Measurement:
    """(a) The write-ups' pipeline and loop (see the package docstring, tinynets/bench/__init__.py)."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from tinynets.data.mnist import MEAN, STD
    from tinynets.models.blocks import use_torch_layers

    device = device_of(cfg)
    clock = StepClock(warmup, steps, device)
    rot = float(cfg.data.augment.rotation)
    worker_hwm = 0.0
    with peak_memory(device) as mem:
        torch.manual_seed(cfg.seed)
        net = use_torch_layers(instantiate(cfg.model.net)).to(device)  # torch's Dropout and BN, as they ran them
        optimizer = instantiate(cfg.optimizer)(params=net.parameters())
        steps_tf = [transforms.RandomRotation((-rot, rot), fill=0)] if rot else []
        tf = transforms.Compose([*steps_tf, transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
        train = datasets.MNIST(cfg.data.root, train=True, download=False, transform=tf)
        loader = DataLoader(train, batch_size=cfg.data.batch_size, shuffle=True, num_workers=workers,
                            pin_memory=device.type == "cuda",
                            generator=torch.Generator().manual_seed(cfg.seed))
        net.train()
        it = iter(loader)
        for batch_idx, (data, target) in enumerate(it):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(net(data), target)  # their nets: log_softmax + nll_loss, the same
            loss.backward()
            optimizer.step()
            _ = f"loss={loss.item()} batch_id={batch_idx}"  # their tqdm description, every batch
            if clock.tick(batch_idx):
                break
        workers_pids = [w.pid for w in getattr(it, "_workers", [])]
        worker_hwm = sum(status_kb(pid, "VmHWM") for pid in workers_pids) / 1024
        del it
    return Measurement(WRITEUPS, clock.seconds, steps, cfg.data.batch_size, clock.t_first - clock.t_build,
                       mem["rss_mb"], worker_hwm, mem["device_mb"], epoch_images=len(train))


def run_raw(cfg, warmup: int, steps: int) -> Measurement:
    """(c) The same maths as (b) with no framework: the floor."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate

    from tinynets.data.mnist import TensorBatches, to_input

    device = device_of(cfg)
    clock = StepClock(warmup, steps, device)
    with peak_memory(device) as mem:
        torch.manual_seed(cfg.seed)
        net = instantiate(cfg.model.net)
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)
        net.to(device)
        if cfg.get("compile"):
            net.compile()
        optimizer = instantiate(cfg.optimizer)(params=net.parameters())
        sched_cfg = instantiate(cfg.scheduler)
        scheduler = None
        if sched_cfg.get("fn") is not None:
            fn = sched_cfg["fn"]
            kwargs = {"total_steps": clock.total} if "OneCycle" in cfg.scheduler.fn._target_ else {}
            scheduler = fn(optimizer, **kwargs)
        data = instantiate(cfg.data)
        data.prepare_data()
        data.setup("fit")
        x_all, y_all = (t.to(device) for t in data.splits["train"])
        batches = TensorBatches(x_all, y_all, cfg.data.batch_size, shuffle=True, seed=cfg.seed)
        augment = dict(data.augment)
        autocast = _autocast(cfg, device)
        net.train()
        for i, (x, y) in enumerate(batches):
            x = to_input(x, augment)
            with autocast:
                loss = F.cross_entropy(net(x), y, label_smoothing=cfg.get("label_smoothing", 0.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and sched_cfg.get("interval") == "step":
                scheduler.step()
            if clock.tick(i):
                break
    return Measurement("raw", clock.seconds, steps, cfg.data.batch_size, clock.t_first - clock.t_build,
                       mem["rss_mb"], 0.0, mem["device_mb"])


def run_tinynets(cfg, warmup: int, steps: int, extra_callbacks: Sequence[Any] = (),
                 torch_layers: Sequence[type] = ()) -> Measurement:
    """(b) `python train.py`'s objects, assembled as tinynets.run.classify assembles them (trainer,
    loggers, every callback a run has), run by Lightning (`torch_layers`: tinynets' CPU-fast
    layers of these types swapped for torch's, as `use_torch_layers` does)."""
    import lightning as L

    from tinynets.config import choice
    from tinynets.process import quiet_lightning
    from tinynets.run.assemble import assemble, build, build_module

    quiet_lightning()
    device = device_of(cfg)
    clock = StepClock(warmup, steps, device)

    class Clock(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
            if clock.tick(batch_idx):
                trainer.should_stop = True

    with peak_memory(device) as mem:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        model_name = choice(cfg, "model") or "model"
        net = build(cfg.model.net, "model", model_name)
        if torch_layers:
            from tinynets.models.blocks import use_torch_layers

            use_torch_layers(net, *torch_layers)
        module = build_module(cfg, net, model_name)
        data = build(cfg.data, "data", choice(cfg, "data"))
        data.prepare_data()
        params = sum(p.numel() for p in net.parameters())
        trainer = assemble(cfg, model=(model_name, params), callbacks=[Clock(), *extra_callbacks], verbose=False,
                           enable_progress_bar=False, max_epochs=1, limit_train_batches=clock.total,
                           limit_val_batches=0).trainer
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
            trainer.fit(module, datamodule=data)
    return Measurement("tinynets", clock.seconds, steps, cfg.data.batch_size, clock.t_first - clock.t_build,
                       mem["rss_mb"], 0.0, mem["device_mb"])


RUNNERS: dict[str, Callable[..., Measurement]] = {WRITEUPS: run_writeups, "tinynets": run_tinynets, "raw": run_raw}
