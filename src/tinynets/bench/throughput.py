"""The throughput table: each model through the three pipelines and (b) through each config option,
alternating within each repeat (the order rotates), the median of the repeats and their spread (min
and max); the ratios between pipelines taken pair by pair within each repeat, then their median."""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinynets.bench import CONF
from tinynets.bench.clock import Measurement, device_name, load_conditions, pairwise, record_header, spread
from tinynets.bench.pipelines import PIPELINES, RUNNERS, WRITEUPS, compose, device_of, run_tinynets

# the config options measured for (b), each against the default. The TORCH_LAYERS ones are not
# config keys: (b) with torch's layer in place of tinynets' CPU-fast one, to show what it saves;
# tinynets' BatchNorm2d acts in bf16 only, so its option runs bf16-mixed (compare with that column)
OPTIONS: dict[str, tuple[str, ...]] = {
    "default": (),
    "channels_last=false": ("channels_last=false",),
    "bf16-mixed": ("trainer.precision=bf16-mixed",),
    "compile": ("compile=true",),
    "nn.Dropout": (),
    "bf16-mixed, nn.BatchNorm2d": ("trainer.precision=bf16-mixed",),
}
TORCH_LAYERS = {"nn.Dropout": "Dropout", "bf16-mixed, nn.BatchNorm2d": "BatchNorm2d"}  # option -> tinynets layer


log = logging.getLogger("tinynets.bench")

# the fewest interleaved repeats a throughput result is recorded from (issue 25): one slow spell
# then moves the median of no pipeline and no ratio
MIN_REPEATS = 5
STATISTIC = ("median of the repeats, spread min-max; ratios pair by pair within each repeat (same repeat, "
             "side by side), then their median and min-max")


def rotation(items: Sequence[Any], r: int) -> list[Any]:
    """The order of `items` in repeat `r`: rotated by r, so each runs first, middle and last in turn."""
    k = r % len(items) if items else 0
    return [*items[k:], *items[:k]]


@dataclass
class Settings:
    """What `make bench` measures: the models, batch, rotation, window, repeats, extra overrides."""

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


def measure(settings: Settings, model: str, pipeline: str, repeat: int, workdir: Path) -> Measurement:
    """One measurement of `model` (its write-up's recipe) through one pipeline."""
    cfg = compose(settings.cfg_overrides(model), workdir / f"{model}-{pipeline}-{repeat}")
    m = RUNNERS[pipeline](cfg, settings.warmup, settings.steps)
    log.info("  %-8s %-12s repeat %d: %7.0f img/s (%.1f ms/step)", model, pipeline, repeat + 1, m.img_per_s,
             m.ms_per_step)
    return m


def writeup_measure(settings: Settings, model: str, repeat: int, workdir: Path) -> dict[str, Any]:
    """One measurement of the write-ups' pipeline (a) for `model`, as the throughput table measures
    (a), as the time of one epoch of its dataset at that rate (`bench fast` takes one per repeat)."""
    m = measure(settings, model, WRITEUPS, repeat, workdir)
    return {"img_per_s": m.img_per_s, "epoch_images": m.epoch_images, "epoch_s": m.epoch_images / m.img_per_s}


def writeup_summary(settings: Settings, model: str, ms: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The write-up epoch over the repeats: the median epoch and its spread (min-max), and the rates."""
    epoch_s = spread([m["epoch_s"] for m in ms])
    return {"model": model, "pipeline": WRITEUPS, "epoch_images": ms[0]["epoch_images"],
            "img_per_s": round(statistics.median(m["img_per_s"] for m in ms), 1),
            "img_per_s_spread": spread([m["img_per_s"] for m in ms], 1),
            "epoch_s": epoch_s["median"], "epoch_s_spread": epoch_s,
            "repeats_epoch_s": [round(m["epoch_s"], 4) for m in ms],
            "repeats_img_per_s": [round(m["img_per_s"], 1) for m in ms],
            "batch_size": settings.batch_size, "rotation_deg": settings.rotation, "warmup_steps": settings.warmup,
            "steps": settings.steps, "repeats": len(ms)}


def measure_model(settings: Settings, model: str, workdir: Path) -> dict[str, Any]:
    """`model` through (a), (b) and (c), interleaved: repeat r runs all three (order rotated by r)."""
    cfg = compose(settings.cfg_overrides(model), workdir / model)
    runs: dict[str, list[Measurement]] = {p: [] for p in PIPELINES}
    for r in range(settings.repeats):
        for p in rotation(PIPELINES, r):
            runs[p].append(measure(settings, model, p, r, workdir))
    result: dict[str, Any] = {
        "params": sum(p.numel() for p in _net(cfg).parameters()),
        "batch_size": settings.batch_size,
        "precision": str(cfg.trainer.get("precision", "32-true")),  # (b) and (c); (a) is always fp32
        **summarize(runs),
        "device": device_name(device_of(cfg)),
    }
    if settings.options:
        result["options"] = measure_options(settings, model, workdir)
    return result


def summarize(runs: dict[str, list[Measurement]]) -> dict[str, Any]:
    """One model's measurements (pipeline -> one per repeat, in repeat order): each pipeline's median
    img/s and spread, and the ratios b/a, b/c and c/a (c/a: b/a's ceiling, the raw loop over the
    write-ups' pipeline) pair by pair within each repeat, then their median and spread (`pairwise`)."""
    rates = {p: [m.img_per_s for m in ms] for p, ms in runs.items()}
    ratios = {"b/a": pairwise(rates["tinynets"], rates[WRITEUPS]), "b/c": pairwise(rates["tinynets"], rates["raw"]),
              "c/a": pairwise(rates["raw"], rates[WRITEUPS])}
    ms_step = {p: statistics.median(m.ms_per_step for m in ms) for p, ms in runs.items()}
    result: dict[str, Any] = {
        "repeats": len(rates["tinynets"]),
        "img_per_s": {p: round(statistics.median(v), 1) for p, v in rates.items()},
        "img_per_s_spread": {p: spread(v, 1) for p, v in rates.items()},
        "ratios": ratios,
        "speedup_vs_seed_pipeline": round(ratios["b/a"]["median"], 3),  # b/a
        "ratio_vs_raw_loop": round(ratios["b/c"]["median"], 3),  # b/c
        "ceiling_vs_seed_pipeline": round(ratios["c/a"]["median"], 3),  # c/a
        "lightning_overhead_ms_per_step": round(ms_step["tinynets"] - ms_step["raw"], 2),
        "ms_per_step": {p: round(v, 2) for p, v in ms_step.items()},
        "peak_mem_mb": {p: round(max(m.peak_rss_mb + m.worker_peak_rss_mb for m in ms), 1)
                        for p, ms in runs.items()},
        "peak_rss_mb": {p: round(max(m.peak_rss_mb for m in ms), 1) for p, ms in runs.items()},
        "worker_peak_rss_mb": round(max(m.worker_peak_rss_mb for m in runs[WRITEUPS]), 1),
        "first_step_s": {p: round(statistics.median(m.first_step_s for m in ms), 2) for p, ms in runs.items()},
        "repeats_img_per_s": {p: [round(v, 1) for v in vs] for p, vs in rates.items()},
    }
    devs = [m.peak_device_mb for ms in runs.values() for m in ms if m.peak_device_mb is not None]
    if devs:
        result["peak_device_mb"] = {p: round(max(m.peak_device_mb for m in ms), 1) for p, ms in runs.items()}
    return result


def measure_options(settings: Settings, model: str, workdir: Path) -> dict[str, Any]:
    """(b) with each config option and with the default, alternating within each repeat (the
    order rotates), median of the repeats; each ratio is against this block's default in the same
    repeat, then the median of those ratios."""
    from tinynets.models import blocks

    layers = {type(m) for m in _net(compose(settings.cfg_overrides(model), workdir / model)).modules()}
    swaps = {n: getattr(blocks, layer) for n, layer in TORCH_LAYERS.items()}
    names = [n for n in OPTIONS if (n not in swaps or swaps[n] in layers) and n not in settings.skip_options]
    runs: dict[str, list[Measurement]] = {n: [] for n in names}
    for r in range(settings.repeats):
        for name in rotation(names, r):
            cfg = compose(settings.cfg_overrides(model, OPTIONS[name]), workdir / f"{model}-{name}-{r}")
            runs[name].append(run_tinynets(cfg, settings.warmup, settings.steps,
                                           torch_layers=[swaps[name]] if name in swaps else []))
            log.info("  %-8s %-20s repeat %d: %7.0f img/s", model, name, r + 1, runs[name][-1].img_per_s)
    med = {n: statistics.median(m.img_per_s for m in ms) for n, ms in runs.items()}
    vs_default = {n: pairwise([m.img_per_s for m in runs[n]], [m.img_per_s for m in runs["default"]]) for n in names}
    return {n: {"img_per_s": round(med[n], 1), "vs_default": round(vs_default[n]["median"], 3),
                "vs_default_spread": vs_default[n], "img_per_s_spread": spread([m.img_per_s for m in runs[n]], 1),
                "first_step_s": round(statistics.median(m.first_step_s for m in runs[n]), 2),
                "repeats_first_step_s": [round(m.first_step_s, 2) for m in runs[n]],
                "repeats_img_per_s": [round(m.img_per_s, 1) for m in runs[n]],
                "overrides": list(OPTIONS[n])} for n in names}


def _net(cfg):
    from hydra.utils import instantiate

    return instantiate(cfg.model.net)


def throughput(settings: Settings, quick: bool = False, argv: Sequence[str] | None = None) -> dict[str, Any]:
    import torch

    if settings.repeats < MIN_REPEATS and not quick:
        raise ValueError(f"{settings.repeats} repeats: a throughput result needs at least {MIN_REPEATS}")
    before = load_conditions()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
        models = {m: measure_model(settings, m, Path(tmp)) for m in settings.models}
    return {
        **record_header(argv, before, quick=quick),
        "clock": os.environ.get("TINYNETS_BENCH_CLOCK", "wall"),
        "torch": torch.__version__,
        "setup": {"batch_size": settings.batch_size, "rotation_deg": settings.rotation, "warmup_steps": settings.warmup,
                  "steps": settings.steps, "repeats": settings.repeats, "overrides": settings.overrides,
                  "statistic": STATISTIC},
        "bench_s": round(time.perf_counter() - t0, 1),
        "models": models,
    }


