"""`make bench` (`python -m tinynets.bench`): how fast tinynets trains, against the write-ups'
pipeline and against a raw loop with no framework, side by side in one process.

    python -m tinynets.bench                  # throughput table -> experiments/bench/results.json + README.md
    python -m tinynets.bench fast             # time to 99.4%: `python train.py experiment=fast`, seeds 0 1 2
    python -m tinynets.bench startup          # `train.py --help` and the first training step, from the command
    python -m tinynets.bench report           # README.md again from results.json

The three pipelines train the same network (a fresh one per measurement, the same seed) with
the same batch size, optimizer and augmentation (a random rotation in +-7 degrees):

  (a) seed      the write-ups' pipeline: `torchvision.datasets.MNIST` with
                `transforms.Compose([RandomRotation((-7, 7), fill=0), ToTensor(), Normalize])`
                (PIL, nearest-neighbour, per image), a `DataLoader(shuffle=True, num_workers=2)`,
                and their plain loop: zero_grad, forward, cross-entropy, backward, step and
                `loss.item()` for the progress bar each batch; fp32, default memory format,
                torch's `nn.Dropout`.
  (b) tinynets  `python train.py`'s objects from conf/ (data=mnist, the default trainer, logger
                and callbacks, channels_last and precision as configured) run by Lightning.
  (c) raw       the same net, data tensors, `to_input` (normalise + rotate with grid_sample),
                optimizer, precision and memory format as (b) in a bare loop: the floor.

A measurement is `--steps` training steps after `--warmup` steps (worker start-up, oneDNN's
first-call work and torch.compile happen there); img/s = steps x batch / seconds. Pipelines
alternate within each repeat (the order rotates), so a change of load hits them alike; the
table shows the median of the repeats. Only training steps are timed: the per-epoch
evaluation and checkpoints are outside the window, the same for all three.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinynets.files import atomic_write, write_json

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
OUT = ROOT / "experiments" / "bench"
PIPELINES = ("seed", "tinynets", "raw")
LABELS = {
    "seed": "(a) write-ups' pipeline",
    "tinynets": "(b) tinynets + Lightning",
    "raw": "(c) raw tensor loop",
}
# the config options measured for (b), each against the default
OPTIONS: dict[str, tuple[str, ...]] = {
    "default": (),
    "channels_last=false": ("channels_last=false",),
    "bf16-mixed": ("trainer.precision=bf16-mixed",),
    "compile": ("compile=true",),
    "nn.Dropout": (),  # not a config key: (b) with torch's nn.Dropout, to show what tinynets' Dropout saves
}

log = logging.getLogger("tinynets.bench")


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Measurement:
    pipeline: str
    seconds: float  # for `steps` steps after the warm-up
    steps: int
    batch_size: int
    first_step_s: float  # building the pipeline to the end of its first step
    peak_rss_mb: float  # this process, during the measurement
    worker_peak_rss_mb: float = 0.0  # DataLoader worker processes (shared pages counted in each)
    peak_device_mb: float | None = None  # CUDA only

    @property
    def img_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps


# `--clock cpu` (TINYNETS_BENCH_CLOCK=cpu): this process's CPU time instead of wall time, to compare
# (b) with (c) on a busy machine; (a)'s DataLoader workers are other processes, so (a) is not
# comparable that way. Reported numbers use the wall clock.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _clock() -> Callable[[], float]:
    return CLOCKS[os.environ.get("TINYNETS_BENCH_CLOCK", "wall")]


class StepClock:
    """Clock marks at the end of step `warmup - 1` and of step `warmup + steps - 1` (0-based),
    so the window holds exactly `steps` whole steps: fetch, transfer, augment, forward, backward,
    optimizer and whatever the framework does between them."""

    def __init__(self, warmup: int, steps: int, device) -> None:
        self.warmup, self.steps, self.device = warmup, steps, device
        self.now = _clock()
        self.t_build = self.now()
        self.t_first: float | None = None
        self.t0: float | None = None
        self.t1: float | None = None

    @property
    def total(self) -> int:
        return self.warmup + self.steps

    def tick(self, i: int) -> bool:
        """Call after step i; True once the window is complete."""
        if i == 0 or i == self.warmup - 1 or i == self.total - 1:
            if self.device.type == "cuda":
                import torch

                torch.cuda.synchronize(self.device)
            now = self.now()
            if i == 0:
                self.t_first = now
            if i == self.warmup - 1:
                self.t0 = now
            if i == self.total - 1:
                self.t1 = now
        return i >= self.total - 1

    @property
    def seconds(self) -> float:
        if self.t0 is None or self.t1 is None:
            raise RuntimeError(f"the pipeline stopped before {self.total} steps: too little data for "
                               f"--warmup {self.warmup} --steps {self.steps}")
        return self.t1 - self.t0


def _status_kb(pid: int | str, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def peak_memory(device) -> Iterator[dict[str, float | None]]:
    """Peak resident memory of this process during the block (Linux: VmHWM, reset on entry
    through /proc/self/clear_refs; elsewhere the process's lifetime peak) and the CUDA peak."""
    import torch

    out: dict[str, float | None] = {"rss_mb": 0.0, "device_mb": None}
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        hwm = _status_kb("self", "VmHWM")
        if not hwm:
            import resource

            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        out["rss_mb"] = hwm / 1024
        if device.type == "cuda":
            out["device_mb"] = torch.cuda.max_memory_allocated(device) / 2**20


def compose(overrides: Sequence[str], output_dir: Path):
    """conf/train.yaml composed as `python train.py` would, without running a Hydra job."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from tinynets.config import check

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


def _device(cfg):
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


def run_seed(cfg, warmup: int, steps: int, workers: int = 2) -> Measurement:
    """(a) The write-ups' pipeline and loop (see the module docstring)."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from tinynets.data.mnist import MEAN, STD
    from tinynets.models.dropout import use_torch_dropout

    device = _device(cfg)
    clock = StepClock(warmup, steps, device)
    rot = float(cfg.data.augment.rotation)
    worker_hwm = 0.0
    with peak_memory(device) as mem:
        torch.manual_seed(cfg.seed)
        net = use_torch_dropout(instantiate(cfg.model.net)).to(device)  # torch's nn.Dropout, as they ran it
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
        worker_hwm = sum(_status_kb(pid, "VmHWM") for pid in workers_pids) / 1024
        del it
    return Measurement("seed", clock.seconds, steps, cfg.data.batch_size, clock.t_first - clock.t_build,
                       mem["rss_mb"], worker_hwm, mem["device_mb"])


def run_raw(cfg, warmup: int, steps: int) -> Measurement:
    """(c) The same maths as (b) with no framework: the floor."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate

    from tinynets.data.mnist import TensorBatches, to_input

    device = _device(cfg)
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
                loss = F.cross_entropy(net(x), y)
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
                 torch_dropout: bool = False) -> Measurement:
    """(b) `python train.py`'s objects, as tinynets.train builds them, run by Lightning
    (`torch_dropout`: with torch's `nn.Dropout` in place of tinynets' `Dropout`)."""
    import lightning as L
    from hydra.utils import instantiate

    from tinynets.callbacks import History
    from tinynets.train import quiet_lightning

    quiet_lightning()
    device = _device(cfg)
    clock = StepClock(warmup, steps, device)

    class Clock(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
            if clock.tick(batch_idx):
                trainer.should_stop = True

    with peak_memory(device) as mem:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        net = instantiate(cfg.model.net)
        if torch_dropout:
            from tinynets.models.dropout import use_torch_dropout

            use_torch_dropout(net)
        module = instantiate(cfg.model, net=net, optimizer=cfg.optimizer, scheduler=cfg.scheduler,
                             channels_last=cfg.channels_last, compile=cfg.get("compile", False))
        data = instantiate(cfg.data)
        data.prepare_data()
        loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c]
        callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c]
        trainer = instantiate(cfg.trainer, callbacks=[*callbacks, History(verbose=False), Clock(), *extra_callbacks],
                              logger=loggers or False, enable_progress_bar=False, max_epochs=1,
                              limit_train_batches=clock.total, limit_val_batches=0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not find the monitored key.*")
            trainer.fit(module, datamodule=data)
    return Measurement("tinynets", clock.seconds, steps, cfg.data.batch_size, clock.t_first - clock.t_build,
                       mem["rss_mb"], 0.0, mem["device_mb"])


RUNNERS: dict[str, Callable[..., Measurement]] = {"seed": run_seed, "tinynets": run_tinynets, "raw": run_raw}


# -- the throughput table ---------------------------------------------------------------------
@dataclass
class Plan:
    models: list[str]
    batch_size: int
    rotation: float
    warmup: int
    steps: int
    repeats: int
    data_dir: str
    overrides: list[str] = field(default_factory=list)
    options: bool = True
    skip_options: tuple[str, ...] = ()

    def cfg_overrides(self, model: str, extra: Sequence[str] = ()) -> list[str]:
        # the model's own recipe where it has one (a write-up's optimizer, lr, dropout: what (a) ran),
        # else the defaults' with this model; batch and rotation are the bench's either way
        recipe = f"experiment={model}" if (CONF / "experiment" / f"{model}.yaml").exists() else f"model={model}"
        return [recipe, f"data.batch_size={self.batch_size}", f"data.augment.rotation={self.rotation}",
                f"paths.data_dir={self.data_dir}", *self.overrides, *extra]


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    from tinynets.proc import cpu_model

    return f"cpu: {cpu_model()}, {os.cpu_count()} cores, torch {torch.get_num_threads()} threads"


def _cpu_ticks() -> dict[int, tuple[int, str]]:
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (d / "stat").read_text().rpartition(")")[2].split()
            args = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            out[int(d.name)] = (int(fields[11]) + int(fields[12]), args)
    return out


def load_conditions(window_s: float = 2.0) -> dict[str, Any]:
    """What else the machine was doing: load averages, and the processes (not this one) that used
    over 5% of a core during a `window_s` sample (Linux /proc; elsewhere only the load averages)."""
    busy = []
    with contextlib.suppress(Exception):
        a = _cpu_ticks()
        time.sleep(window_s)
        b = _cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        for pid, (ticks, args) in b.items():
            if pid == os.getpid() or pid not in a:
                continue
            pct = 100 * (ticks - a[pid][0]) / hz / window_s
            if pct >= 5:
                busy.append((pct, f"{pct:.0f}% {args[:110]}"))
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "busy_processes": [text for _, text in sorted(busy, reverse=True)[:6]]}


def measure_model(plan: Plan, model: str, workdir: Path) -> dict[str, Any]:
    cfg = compose(plan.cfg_overrides(model), workdir / model)
    runs: dict[str, list[Measurement]] = {p: [] for p in PIPELINES}
    for r in range(plan.repeats):
        order = PIPELINES[r % 3:] + PIPELINES[: r % 3]
        for p in order:
            cfg = compose(plan.cfg_overrides(model), workdir / f"{model}-{p}-{r}")
            m = RUNNERS[p](cfg, plan.warmup, plan.steps)
            runs[p].append(m)
            log.info("  %-8s %-12s repeat %d: %7.0f img/s (%.1f ms/step)", model, p, r + 1, m.img_per_s,
                     m.ms_per_step)
    med = {p: statistics.median(m.img_per_s for m in ms) for p, ms in runs.items()}
    ms_step = {p: statistics.median(m.ms_per_step for m in ms) for p, ms in runs.items()}
    result: dict[str, Any] = {
        "params": sum(p.numel() for p in _net(cfg).parameters()),
        "batch_size": plan.batch_size,
        "img_per_s": {p: round(v, 1) for p, v in med.items()},
        "speedup_vs_seed_pipeline": round(med["tinynets"] / med["seed"], 3),
        "ratio_vs_raw_loop": round(med["tinynets"] / med["raw"], 3),
        "lightning_overhead_ms_per_step": round(ms_step["tinynets"] - ms_step["raw"], 2),
        "ms_per_step": {p: round(v, 2) for p, v in ms_step.items()},
        "peak_mem_mb": {p: round(max(m.peak_rss_mb + m.worker_peak_rss_mb for m in ms), 1)
                        for p, ms in runs.items()},
        "peak_rss_mb": {p: round(max(m.peak_rss_mb for m in ms), 1) for p, ms in runs.items()},
        "worker_peak_rss_mb": round(max(m.worker_peak_rss_mb for m in runs["seed"]), 1),
        "first_step_s": {p: round(statistics.median(m.first_step_s for m in ms), 2) for p, ms in runs.items()},
        "repeats_img_per_s": {p: [round(m.img_per_s, 1) for m in ms] for p, ms in runs.items()},
        "device": device_name(_device(cfg)),
    }
    devs = [m.peak_device_mb for ms in runs.values() for m in ms if m.peak_device_mb is not None]
    if devs:
        result["peak_device_mb"] = {p: round(max(m.peak_device_mb for m in ms), 1) for p, ms in runs.items()}
    if plan.options:
        result["options"] = measure_options(plan, model, workdir)
    return result


def measure_options(plan: Plan, model: str, workdir: Path) -> dict[str, Any]:
    """(b) with each config option and with the default, alternating within each repeat (the
    order rotates), median of the repeats; each ratio is against this block's default."""
    from tinynets.models.dropout import Dropout

    has_dropout = any(type(m) is Dropout for m in _net(compose(plan.cfg_overrides(model), workdir / model)).modules())
    names = [n for n in OPTIONS if (n != "nn.Dropout" or has_dropout) and n not in plan.skip_options]
    runs: dict[str, list[Measurement]] = {n: [] for n in names}
    for r in range(plan.repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            cfg = compose(plan.cfg_overrides(model, OPTIONS[name]), workdir / f"{model}-{name}-{r}")
            runs[name].append(run_tinynets(cfg, plan.warmup, plan.steps, torch_dropout=name == "nn.Dropout"))
            log.info("  %-8s %-20s repeat %d: %7.0f img/s", model, name, r + 1, runs[name][-1].img_per_s)
    med = {n: statistics.median(m.img_per_s for m in ms) for n, ms in runs.items()}
    return {n: {"img_per_s": round(med[n], 1), "vs_default": round(med[n] / med["default"], 3),
                "first_step_s": round(statistics.median(m.first_step_s for m in runs[n]), 2),
                "repeats_first_step_s": [round(m.first_step_s, 2) for m in runs[n]],
                "repeats_img_per_s": [round(m.img_per_s, 1) for m in runs[n]],
                "overrides": list(OPTIONS[n])} for n in names}


def _net(cfg):
    from hydra.utils import instantiate

    return instantiate(cfg.model.net)


def _command(argv: Sequence[str] | None) -> str:
    return "python -m tinynets.bench " + " ".join(sys.argv[1:] if argv is None else argv)


def throughput(plan: Plan, quick: bool = False, argv: Sequence[str] | None = None) -> dict[str, Any]:
    import torch

    before = load_conditions()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
        models = {m: measure_model(plan, m, Path(tmp)) for m in plan.models}
    return {
        "command": _command(argv),
        "quick": quick,
        "clock": os.environ.get("TINYNETS_BENCH_CLOCK", "wall"),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": _git_rev(),
        "torch": torch.__version__,
        "setup": {"batch_size": plan.batch_size, "rotation_deg": plan.rotation, "warmup_steps": plan.warmup,
                  "steps": plan.steps, "repeats": plan.repeats, "overrides": plan.overrides,
                  "statistic": "median of repeats"},
        "load": {"before": before, "after": load_conditions()},
        "bench_s": round(time.perf_counter() - t0, 1),
        "models": models,
    }


def _git_rev() -> str | None:
    """Short commit of the sources that ran, `+dirty` with local changes (see report.code_version)."""
    from tinynets.report import code_version

    v = code_version()
    return v["commit"][:7] + ("+dirty" if v["dirty"] else "") if v["commit"] else None


# -- results.json and README.md ----------------------------------------------------------------
def load_results(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def save(out: Path, section: str, data: dict[str, Any]) -> dict[str, Any]:
    """Replace one section of results.json (throughput, fast, startup), keep the others, and
    regenerate README.md from the whole."""
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(out)
    if section == "throughput":
        results.update({k: v for k, v in data.items()})
    else:
        results[section] = data
    write_json(out / "results.json", results)
    atomic_write(out / "README.md", render(results))
    return results


def _load_line(load: dict[str, Any]) -> str:
    b, a = load.get("before", {}), load.get("after", {})
    text = f"load average (1/5/15 min) before {b.get('loadavg')}, after {a.get('loadavg')}"
    busy = b.get("busy_processes") or []
    return text + ("; other busy processes before: " + "; ".join(f"`{p}`" for p in busy) if busy else
                   "; no other process above 5% CPU before")


def render(results: dict[str, Any]) -> str:
    lines = ["# Speed: tinynets against the write-ups' pipeline and a raw loop", "",
             "Generated by `python -m tinynets.bench` from `results.json` (do not edit by hand).", ""]
    models = results.get("models") or {}
    if models:
        s = results["setup"]
        first = next(iter(models.values()))
        lines += [
            f"Command: `{results['command']}` ({results['date']}, commit {results.get('git')}, torch "
            f"{results.get('torch')}){' **QUICK MODE: synthetic data, not a measurement**' if results.get('quick') else ''}"
            f"{' **CPU-TIME CLOCK: (a) not comparable**' if results.get('clock', 'wall') != 'wall' else ''}.",
            f"Device: {first['device']}.",
            f"Load: {_load_line(results.get('load', {}))}.",
            f"Setup: each model with its write-up's recipe (`experiment=<model>`: optimizer, lr, dropout), "
            f"batch {s['batch_size']}, rotation +-{s['rotation_deg']:g} deg in all three pipelines, "
            f"{s['steps']} timed training steps after {s['warmup_steps']} warm-up steps, {s['repeats']} "
            f"repeats, {s['statistic']}" + (f", overrides {s['overrides']}" if s.get("overrides") else "") + ".",
            "",
            "| model | params | (a) write-ups' pipeline | (b) tinynets + Lightning | (c) raw loop | "
            "b/a | b/c | Lightning overhead | peak memory a / b / c |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in models.items():
            i, pk = m["img_per_s"], m["peak_mem_mb"]
            lines.append(
                f"| `{name}` | {m['params']:,} | {i['seed']:,.0f} img/s | {i['tinynets']:,.0f} img/s | "
                f"{i['raw']:,.0f} img/s | **{m['speedup_vs_seed_pipeline']:.2f}x** | **{m['ratio_vs_raw_loop']:.3f}** | "
                f"{m['lightning_overhead_ms_per_step']:+.2f} ms/step | {pk['seed']:,.0f} / {pk['tinynets']:,.0f} / "
                f"{pk['raw']:,.0f} MB |")
        lines += [
            "",
            "Goals on this CPU: b/a >= 1.5 and b/c >= 0.95. Lightning overhead = median ms/step of (b) "
            "minus that of (c). Peak memory: resident set of the process during the measurement "
            "(VmHWM, reset before each), plus the DataLoader workers' for (a) (their shared pages "
            "are counted in each).",
            "",
            "What the pipelines are:",
            "",
            "- **(a)** the write-ups' pipeline: `torchvision.datasets.MNIST` + `transforms.Compose("
            "[RandomRotation((-7, 7), fill=0), ToTensor(), Normalize((0.1307,), (0.3081,))])` (PIL, per "
            "image, nearest-neighbour), `DataLoader(batch_size, shuffle=True, num_workers=2)`, and their "
            "plain loop (`zero_grad`, forward, cross-entropy, `backward`, `step`, `loss.item()` each batch "
            "for the progress bar); fp32, default memory format, torch's `nn.Dropout`, the same SGD.",
            "- **(b)** `python train.py`'s objects from `conf/` (data=mnist: uint8 split tensors, index "
            "batches, normalisation and rotation as batched tensor ops; the default trainer, TensorBoard "
            "logger, checkpoint and History callbacks; `channels_last` and `trainer.precision` as "
            "configured; tinynets' `Dropout`) run by Lightning, without a progress bar (as `train.py` "
            "runs when its output is not a terminal).",
            "- **(c)** the same net, split tensors, `tinynets.data.mnist.to_input` (normalise + "
            "`affine_grid`/`grid_sample` rotation, bilinear), optimizer, precision and memory format as "
            "(b) in a bare loop.",
        ]
        opt_rows = [(name, m["options"]) for name, m in models.items() if m.get("options")]
        if opt_rows:
            names = list(OPTIONS)
            lines += ["", "### Options, measured through (b)", "",
                      "| model | " + " | ".join(f"`{n}`" if n != "default" else "default (fp32, channels_last)"
                                               for n in names) + " |",
                      "|---|" + "---|" * len(names)]
            for name, o in opt_rows:
                cells = []
                for n in names:
                    if n in o:
                        cells.append(f"{o[n]['img_per_s']:,.0f} img/s" + ("" if n == "default"
                                                                          else f" ({o[n]['vs_default']:.2f}x)"))
                    else:
                        cells.append("n/a")
                lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
            lines += ["", "`nn.Dropout` is not a config key: (b) with torch's `nn.Dropout` in place of tinynets' "
                          "`Dropout` (n/a: the model has no element-wise Dropout; `gap_fc` uses `Dropout2d`). "
                          "Each cell: median img/s of the repeats, and its ratio to the default."]
            # the first repeat compiles; later ones in the same process reuse dynamo's cache
            comp = [f"`{name}` {o['compile']['repeats_first_step_s'][0]:.1f} s" for name, o in opt_rows
                    if "repeats_first_step_s" in o.get("compile", {})]
            if comp:
                lines += ["", "With `compile=true` the first step of the first repeat (cold compilation) took "
                          + ", ".join(comp) + "."]
        lines += [
            "",
            "Per repeat (img/s): " + "; ".join(
                f"`{n}` " + ", ".join(f"{p} {v}" for p, v in m["repeats_img_per_s"].items())
                for n, m in models.items()) + ".",
        ]
    timed = {k: v for k, v in results.items() if isinstance(v, dict) and "runs" in v}
    for section in timed.values():
        lines += ["", *render_fast(section)]
    if results.get("startup"):
        lines += ["", *render_startup(results["startup"])]
    on_gpu = [k for k, v in timed.items() if any(str(r.get("device", "")).startswith("cuda")
                                                  for r in v["runs"].values())]
    lines += ["", "## GPU path", ""]
    if on_gpu:
        lines += ["Measured on a GPU: the " + ", ".join(f"`{k}`" for k in on_gpu) + " section(s) above."]
    else:
        lines += [
            "**No GPU was measured**: none was available to this work. `trainer=gpu` keeps the split "
            "tensors on the GPU (moved to `trainer.strategy.root_device` once, in `setup`), draws "
            "index batches and augments on the device, and has no host synchronisation in the "
            "training step: `tests/test_gpu_path.py` runs the same code on CPU and checks that no "
            "operation that would synchronise with a GPU (`.item()`, `.cpu()`, `nonzero`, boolean "
            "indexing, ...) happens between training steps, and that the data path runs entirely on "
            "a non-CPU device (`meta`). Timings on a GPU (the 20-epoch `deep_narrow` run, the "
            "backprop-sheet sweep) are still to be taken: "
            "`python -m tinynets.bench fast --label gpu_deep_narrow --seeds 0 --no-target -- "
            "experiment=deep_narrow trainer=gpu`.",
        ]
    return "\n".join(lines) + "\n"


# -- time to target: `python train.py experiment=fast` -----------------------------------------
EPOCH_LINE = re.compile(r"^\[Epoch (\d+)\].*\((\d+(?:\.\d+)?)%\) on (\w+) \| ([\d.]+)s")


def timed_run(overrides: Sequence[str], run_dir: Path, target: float | None,
              script: Sequence[str] = ("train.py",)) -> dict[str, Any]:
    """`python train.py <overrides>` as a user runs it; wall time from the command to each epoch
    line (read as it is printed), to the first epoch at `target`, and to the end. The run's
    metrics.json (in `run_dir`) gives its accuracy and `first_step_s`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, *script, *overrides, f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    epochs, tail = [], []
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        tail = (tail + [line])[-30:]
        m = EPOCH_LINE.match(line.strip())
        if m:
            epochs.append({"epoch": int(m[1]), "acc": float(m[2]), "at_s": round(now, 2), "epoch_s": float(m[4])})
            log.info("    %.1fs  %s", now, line.strip())
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}:\n{''.join(tail)}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    hit = next((e for e in epochs if target is not None and e["acc"] >= target), None)
    return {
        "overrides": list(overrides),
        "epochs": epochs,
        "target_epoch": hit["epoch"] if hit else None,
        "time_to_target_s": hit["at_s"] if hit else None,
        "first_step_s": metrics.get("first_step_s"),
        "wall_s": round(wall, 2),
        "best_val_acc": metrics.get("best_val_acc"),
        "test_acc": metrics.get("test_acc"),
        "device": metrics.get("device"),
        "params": metrics.get("params"),
        "model": metrics.get("model"),
    }


def fast(seeds: Sequence[int], overrides: Sequence[str], label: str, target: float | None,
         argv: Sequence[str] | None = None) -> dict[str, Any]:
    before = load_conditions()
    runs = {}
    for seed in seeds:
        run_dir = ROOT / "outputs" / "bench" / label / f"seed{seed}"
        log.info("  %s seed %d: python train.py %s seed=%d", label, seed, " ".join(overrides), seed)
        runs[str(seed)] = timed_run([*overrides, f"seed={seed}"], run_dir, target)
    times = [r["time_to_target_s"] for r in runs.values()]
    return {
        "command": _command(argv),
        "train_command": "python train.py " + " ".join(overrides) + " seed=N",
        "label": label,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": _git_rev(),
        "target_acc": target,
        "load": {"before": before, "after": load_conditions()},
        "runs": runs,
        "all_reached": all(t is not None for t in times),
        "max_time_to_target_s": max(times) if times and all(t is not None for t in times) else None,
        "median_time_to_target_s": statistics.median(times) if times and all(t is not None for t in times) else None,
    }


def render_fast(f: dict[str, Any]) -> list[str]:
    lines = [f"## Time to {f['target_acc']}%: `{f['train_command']}`" if f.get("target_acc") else
             f"## `{f['train_command']}`", "",
             f"Command: `{f['command']}` ({f['date']}, commit {f.get('git')}). "
             f"Load: {_load_line(f.get('load', {}))}.", "",
             "Wall time is measured from launching `python train.py` (a fresh process: imports, "
             "data, every epoch's evaluation on the official 10k test set) to the moment the epoch "
             "line is printed.", "",
             "| seed | first step | epoch at target | time to target | per-epoch s | test acc per epoch | final | whole command |",
             "|---|---|---|---|---|---|---|---|"]
    for seed, r in f["runs"].items():
        accs = ", ".join(f"{e['acc']:.2f}" for e in r["epochs"])
        secs = ", ".join(f"{e['epoch_s']:.1f}" for e in r["epochs"])
        ttt = f"**{r['time_to_target_s']:.1f} s**" if r["time_to_target_s"] is not None else "not reached"
        fs = f"{r['first_step_s']:.1f} s" if r.get("first_step_s") is not None else "n/a"
        lines.append(f"| {seed} | {fs} | {r['target_epoch'] or '-'} | {ttt} | {secs} | {accs} | "
                     f"{r['test_acc']:.2f}% | {r['wall_s']:.1f} s |")
    if f.get("max_time_to_target_s") is not None:
        lines += ["", f"All seeds reached {f['target_acc']}%; slowest {f['max_time_to_target_s']:.1f} s, median "
                      f"{f['median_time_to_target_s']:.1f} s (goal: under 300 s). Device: "
                      f"{next(iter(f['runs'].values()))['device']}."]
    elif f.get("target_acc"):
        lines += ["", f"Not every seed reached {f['target_acc']}%."]
    return lines


# -- start-up -------------------------------------------------------------------------------------
def startup(repeats: int, data_dir: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`python train.py --help` wall time, its heaviest imports, and command-to-first-step of a
    real training start (`experiment=fast`, stopped after one step)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = load_conditions()
    helps = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, env=env, capture_output=True, check=True)
        helps.append(time.perf_counter() - t0)
    imp = subprocess.run([sys.executable, "-X", "importtime", "train.py", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stderr
    help_imports = _top_imports(imp)
    torch_in_help = any(line.rstrip().endswith("| torch") for line in imp.splitlines())
    first, walls = [], []
    one_step = ["experiment=fast", f"paths.data_dir={data_dir}", "+trainer.max_steps=1",
                "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]
    with tempfile.TemporaryDirectory(prefix="tinynets-startup-") as tmp:
        for i in range(repeats):
            r = timed_run(one_step, Path(tmp) / str(i), target=None)
            first.append(r["first_step_s"])
            walls.append(r["wall_s"])
        imp = subprocess.run([sys.executable, "-X", "importtime", "train.py", *one_step,
                              f"hydra.run.dir={Path(tmp) / 'importtime'}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stderr
        phases = probe_startup([*one_step, f"hydra.run.dir={Path(tmp) / 'probe'}"], env)
    run_imports = _top_imports(imp, 6)
    return {
        "command": _command(argv),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": _git_rev(),
        "load": {"before": before, "after": load_conditions()},
        "help_s": [round(t, 2) for t in helps],
        "help_median_s": round(statistics.median(helps), 2),
        "help_imports": help_imports,
        "imports_torch_in_help": torch_in_help,
        "run_imports": run_imports,
        "phases_s": phases,
        "first_step_s": [round(t, 2) for t in first],
        "first_step_median_s": round(statistics.median(first), 2),
        "one_step_run_wall_s": [round(t, 2) for t in walls],
    }


# Run in a fresh interpreter by `startup`: train.py as `python train.py ARGS` runs it, with marks
# (seconds since the process started) at the phases before the first training step.
PROBE = r"""
import json, runpy, sys
from tinynets.proc import seconds_since_start as t
marks = {"interpreter up": t()}
import tinynets.train as tt

def wrap(obj, name, label, after=True):
    f = getattr(obj, name)
    def w(*a, **k):
        if not after:
            marks.setdefault(label, t())
        r = f(*a, **k)
        if after:
            marks.setdefault(label, t())
        return r
    setattr(obj, name, w)

def after_lightning():  # patch what needs lightning only once train.py has imported it
    import lightning.pytorch as lp
    import tinynets.callbacks as cb
    import tinynets.data.mnist as dm
    wrap(lp.Trainer, "fit", "Trainer.fit called", after=False)
    wrap(dm.MNISTData, "setup", "data loaded")
    orig = cb.History.on_train_batch_end
    def first(self, *a, **k):
        orig(self, *a, **k)
        marks.setdefault("first step done", t())
    cb.History.on_train_batch_end = first

wrap(tt, "_run", "config composed and checked", after=False)
wrap(tt, "check_params", "net built (torch imported)", after=False)
ql = tt.quiet_lightning
def quiet():
    ql()
    marks.setdefault("lightning imported", t())
    after_lightning()
tt.quiet_lightning = quiet
sys.argv = ["train.py", *sys.argv[1:]]
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit:
    pass
print("PROBE " + json.dumps(marks))
"""


def probe_startup(overrides: Sequence[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds from the command to each phase of `python train.py <overrides>` (see PROBE)."""
    out = subprocess.run([sys.executable, "-c", PROBE, *overrides], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("PROBE "))
    marks = json.loads(line[len("PROBE "):])
    return {k: round(v, 2) for k, v in sorted(marks.items(), key=lambda kv: kv[1]) if v is not None}


def _top_imports(importtime_stderr: str, n: int = 5) -> list[tuple[str, float]]:
    """The top-level imports with the largest cumulative time, from `python -X importtime`."""
    rows = []
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # depth 0: imported by the script itself
            rows.append((name.strip(), round(int(cum) / 1e6, 3)))
    return sorted(rows, key=lambda r: -r[1])[:n]


def render_startup(s: dict[str, Any]) -> list[str]:
    imports = ", ".join(f"`{n}` {t:.2f} s" for n, t in s["help_imports"])
    return [
        "## Start-up", "",
        f"Command: `{s['command']}` ({s['date']}, commit {s.get('git')}). Load: {_load_line(s.get('load', {}))}.", "",
        f"- `python train.py --help`: median {s['help_median_s']:.2f} s "
        f"({', '.join(f'{t:.2f}' for t in s['help_s'])}); torch imported: "
        f"{'yes' if s['imports_torch_in_help'] else 'no'}; heaviest imports: {imports}.",
        f"- From the command to the end of the first training step (`python train.py experiment=fast`, "
        f"`first_step_s` in metrics.json): median {s['first_step_median_s']:.1f} s "
        f"({', '.join(f'{t:.1f}' for t in s['first_step_s'])}); goal: within 12 s. Its heaviest imports "
        f"(`python -X importtime`, cumulative, one run): "
        + ", ".join(f"`{n}` {t:.2f} s" for n, t in s.get("run_imports", [])) + ".",
        "- Where those seconds go (one more run, seconds from the command): "
        + ", ".join(f"{k} {v:.1f}" for k, v in s.get("phases_s", {}).items()) + ".",
    ]


# -- command line ---------------------------------------------------------------------------------
def _synthetic_data(root: Path) -> str:
    """Tiny MNIST-format IDX files for --quick (each class a bright bar at its own place)."""
    import numpy as np

    from tinynets.data.prepare import idx_bytes

    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", 512), ("t10k", 128)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, 2 + (c // 5) * 12: 12 + (c // 5) * 12, 2 + (c % 5) * 5: 6 + (c % 5) * 5] = 255
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(x))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(y))
    return str(root)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinynets.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="throughput", choices=("throughput", "fast", "startup", "report"))
    ap.add_argument("overrides", nargs="*", help="config overrides (fast: the run's; throughput: added to (b) and (c))")
    ap.add_argument("--models", nargs="+", default=["deep_narrow", "gap_fc"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rotation", type=float, default=7.0)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-options", action="store_true", help="skip the options table")
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--out", default=str(OUT), help="where results.json and README.md go")
    ap.add_argument("--quick", action="store_true", help="a smoke test: synthetic data, 3 steps, 1 repeat")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--label", default="fast")
    ap.add_argument("--no-target", action="store_true", help="fast: time the whole run, no accuracy target")
    ap.add_argument("--clock", choices=tuple(CLOCKS), default=None,
                    help="cpu: this process's CPU time (b vs c on a busy machine; not for (a), not reported)")
    args = ap.parse_args(argv)
    if args.clock:
        os.environ["TINYNETS_BENCH_CLOCK"] = args.clock
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)

    if args.what == "report":
        atomic_write(out / "README.md", render(load_results(out)))
        print(out / "README.md")
        return 0
    if args.what == "fast":
        overrides = args.overrides or ["experiment=fast"]
        if args.data_dir != str(ROOT / "data"):
            overrides = [*overrides, f"paths.data_dir={args.data_dir}"]
        target = None if args.no_target else 99.4
        res = fast(args.seeds, overrides, args.label, target, argv)
        save(out, args.label, res)
        print("\n".join(render_fast(res)))
        return 0 if res["all_reached"] or target is None else 1
    if args.what == "startup":
        res = startup(args.repeats, args.data_dir, argv)
        save(out, "startup", res)
        print("\n".join(render_startup(res)))
        return 0

    with tempfile.TemporaryDirectory(prefix="tinynets-quick-") as tmp:
        plan = Plan(models=args.models, batch_size=args.batch_size, rotation=args.rotation, warmup=args.warmup,
                    steps=args.steps, repeats=args.repeats, data_dir=args.data_dir, overrides=list(args.overrides),
                    options=not args.no_options)
        if args.quick:
            plan.data_dir = _synthetic_data(Path(tmp))
            plan.overrides += ["data.verify=false"]
            plan.batch_size, plan.warmup, plan.steps, plan.repeats = 32, 2, 3, 1
            plan.skip_options = ("compile",)  # minutes of compilation on a CPU
        res = throughput(plan, quick=args.quick, argv=argv)
    results = save(out, "throughput", res)
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
