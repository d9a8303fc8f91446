"""The bench's command line (`python -m tinynets.bench [throughput|fast|startup|sweeps|gpu|report]`,
the Makefile's bench targets): parses the flags, runs one command, records it and renders the README."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tinynets.bench
from tinynets.bench import CONF, OUT, ROOT
from tinynets.bench.clock import CLOCKS
from tinynets.bench.fast import fast
from tinynets.bench.gpu import gpu, no_gpu
from tinynets.bench.render import render_fast, render_gpu, render_startup, render_sweeps, write_readme
from tinynets.bench.startup import startup
from tinynets.bench.store import load_results, save
from tinynets.bench.sweeps import LRS, sweeps
from tinynets.bench.throughput import Settings, throughput
from tinynets.files import write_json


def target_acc() -> float:
    """The accuracy `fast` times to: conf/train.yaml's `target_acc`."""
    from omegaconf import OmegaConf

    return float(OmegaConf.load(CONF / "train.yaml").target_acc)


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
    ap = argparse.ArgumentParser(prog="python -m tinynets.bench", description=tinynets.bench.__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="throughput", choices=("throughput", "fast", "startup", "sweeps", "gpu", "report"))
    ap.add_argument("overrides", nargs="*", help="config overrides (fast: the run's; throughput: added to (b) and (c))")
    ap.add_argument("--models", nargs="+", default=["deep_narrow", "gap_fc"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rotation", type=float, default=7.0)
    # 200 steps x 5 repeats: 100-step repeats varied by up to 25% on a quiet AMD EPYC (gap_fc (b):
    # 3,039 to 3,922 img/s in one invocation), enough to swing b/c from 0.8 to 1.0
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-options", action="store_true", help="skip the options table")
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--out", default=str(OUT), help="where results.json and README.md go")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test on synthetic data: 3 steps, 1 repeat (fast, sweeps, gpu: 1 epoch, 2 jobs)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="gpu: where (cpu: the path's test)")
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

    if args.what == "report":  # an earlier flat results.json is rewritten in the per-machine layout
        if (out / "results.json").exists():
            write_json(out / "results.json", load_results(out))
        print(write_readme(out))
        return 0
    if args.what == "gpu" and args.device == "cuda" and (why := no_gpu()):
        print(f"no GPU: {why}", file=sys.stderr)
        return 2
    if args.what == "startup":
        res = startup(args.repeats, args.data_dir, argv)
        _record(out, "startup", res)
        print("\n".join(render_startup(res)))
        return 0

    with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
        settings = _settings(args, Path(tmp))
        quick_data = ["data.verify=false"] if args.quick else []
        if args.what == "fast":
            return _fast(args, settings, out, argv)
        if args.what == "sweeps":
            res = sweeps([f"paths.data_dir={settings.data_dir}", *quick_data, *args.overrides],
                         LRS[:2] if args.quick else LRS, Path(tmp) / "sweeps", args.quick, argv)
            _record(out, "sweeps", res)
            print("\n".join(render_sweeps(res)))
            return 0
        if args.what == "gpu":
            res = gpu(settings.data_dir, Path(tmp) / "gpu", args.device, args.quick, [*quick_data, *args.overrides],
                      argv)
            _record(out, "gpu", res)
            print("\n".join(render_gpu({"machines": {"": res}})))
            return 0
        res = throughput(settings, quick=args.quick, argv=argv)
    print(_record(out, "throughput", res))
    return 0


def _record(out: Path, section: str, res: dict) -> str:
    """Save the invocation (results.json / gpu.json, its history row) and render the README."""
    save(out, section, res)
    return write_readme(out).read_text()


def _settings(args: argparse.Namespace, tmp: Path) -> Settings:
    """The throughput bench's settings from the flags (--quick: synthetic data in `tmp`, 3 steps)."""
    settings = Settings(models=args.models, batch_size=args.batch_size, rotation=args.rotation, warmup=args.warmup,
                        steps=args.steps, repeats=args.repeats, data_dir=args.data_dir,
                        overrides=list(args.overrides) if args.what == "throughput" else [],
                        options=not args.no_options)
    if args.quick:
        settings.data_dir = _synthetic_data(tmp)
        settings.overrides += ["data.verify=false"]
        settings.batch_size, settings.warmup, settings.steps, settings.repeats = 32, 2, 3, 1
        settings.skip_options = ("compile",)  # minutes of compilation on a CPU
    return settings


def _fast(args: argparse.Namespace, settings: Settings, out: Path, argv: Sequence[str] | None) -> int:
    """`bench fast`: experiment=fast (or the overrides) per seed, and one write-up epoch of (a)."""
    overrides = args.overrides or ["experiment=fast"]
    if settings.data_dir != str(ROOT / "data"):
        overrides = [*overrides, f"paths.data_dir={settings.data_dir}"]
    if args.quick:  # a smoke test of the path: one epoch on the synthetic data
        overrides = [*overrides, "data.verify=false", "trainer.max_epochs=1"]
    target = None if args.no_target else target_acc()
    runs_root = Path(settings.data_dir) / "runs" if args.quick else ROOT / "outputs" / "bench"
    res = fast(args.seeds, overrides, args.label, target, argv, writeup=settings, runs_root=runs_root)
    res["quick"] = args.quick
    _record(out, args.label, res)
    print("\n".join(render_fast(res)))
    return 0 if res["all_reached"] or target is None or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
