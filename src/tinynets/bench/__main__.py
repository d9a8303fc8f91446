"""The bench's command line (`python -m tinynets.bench [throughput|fast|startup|sweeps|gpu|report]`,
the Makefile's bench targets): parses the flags, runs one command, records it and renders the README.

A result of record names its code: a bench refuses (exit 2, before measuring) to start from a working
tree with uncommitted changes (`--require-clean`, the default), and does not record one whose code
changed while it ran; `--allow-dirty` measures and prints without writing results.json, gpu.json or
the README. `--quick` (synthetic data, never of record) runs from any tree and records its code."""

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
from tinynets.bench import fast as fast_mod
from tinynets.bench import throughput as throughput_mod
from tinynets.bench.clock import CLOCKS, code_state
from tinynets.bench.fast import fast
from tinynets.bench.gpu import gpu, no_gpu
from tinynets.bench.render import (
    render_fast,
    render_gpu,
    render_search,
    render_search_workers,
    render_startup,
    render_sweeps,
    render_throughput,
    write_readme,
)
from tinynets.bench.scale import scale_bench
from tinynets.bench.search import search_bench
from tinynets.bench.startup import startup
from tinynets.bench.store import load_results, save
from tinynets.bench.sweeps import LRS, sweeps
from tinynets.bench.throughput import Settings, throughput
from tinynets.errors import report
from tinynets.files import write_json


def target_acc() -> float:
    """The accuracy `fast` times to: conf/train.yaml's `target_acc`."""
    from omegaconf import OmegaConf

    return float(OmegaConf.load(CONF / "train.yaml").target_acc)


def _synthetic_data(root: Path) -> str:
    """Tiny MNIST-format IDX files for --quick (tinynets.data.prepare.synthetic_mnist, 512 training images)."""
    from tinynets.data.prepare import synthetic_mnist

    synthetic_mnist(root, n_train=512)
    return str(root)


# the fewest interleaved repeats each command's result is recorded from (issue 25)
MIN_REPEATS = {"throughput": throughput_mod.MIN_REPEATS, "fast": fast_mod.MIN_REPEATS}


def not_of_record(code: dict) -> str | None:
    """Why a bench run with this code (`clock.code_state`) cannot be a result of record, or None."""
    if code.get("commit") is None:
        return "the sources are not a git checkout, so no commit can be recorded"
    if code.get("dirty"):
        return f"the working tree has uncommitted changes (HEAD {code['commit'][:10]})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinynets.bench", description=tinynets.bench.__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="throughput", choices=("throughput", "fast", "startup", "sweeps", "search", "search-workers", "gpu",
                                                               "report"))
    ap.add_argument("overrides", nargs="*", help="config overrides (fast: the run's; throughput: added to (b) and (c))")
    ap.add_argument("--models", nargs="+", default=["deep_narrow", "gap_fc"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rotation", type=float, default=7.0)
    # 200 steps x 5 repeats: shorter repeats varied enough on a quiet machine to swing b/c across
    # its goal (the bench README keeps every repeat's img/s)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=None,
                    help=f"interleaved repeats (throughput: default and least {throughput_mod.MIN_REPEATS}; fast: "
                         f"default and least {fast_mod.MIN_REPEATS}; startup: default 5; search: default 3)")
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
    clean = ap.add_mutually_exclusive_group()
    clean.add_argument("--require-clean", dest="allow_dirty", action="store_false",
                       help="the default: refuse to start from a working tree with uncommitted changes")
    clean.add_argument("--allow-dirty", dest="allow_dirty", action="store_true",
                       help="measure and print from any tree, and record nothing (no results.json, no README)")
    ap.set_defaults(allow_dirty=False)  # store_false's own default would be True
    args = ap.parse_args(argv)
    least = MIN_REPEATS.get(args.what)
    args.repeats_given = args.repeats is not None
    if args.repeats is None:
        args.repeats = least or (3 if args.what == "search" else 5)
    if least and args.repeats < least and not args.quick:
        return report(f"--repeats {args.repeats}: a {args.what} result needs at least {least} interleaved repeats "
                      f"(pass --repeats {least} or more)")
    code = None if args.what == "report" else code_state()
    if code is not None and not args.quick and not args.allow_dirty and (why := not_of_record(code)):
        return report(f"{why}; commit first or pass --allow-dirty to measure without recording")
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
        return report(f"no GPU: {why}")
    if args.what == "search-workers":
        with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
            try:
                res = scale_bench(Path(tmp), args.quick, argv)
            except RuntimeError as e:
                return report(e)
        return _record(out, "search_workers", res, args, code, render_search_workers(res))
    if args.what == "startup":
        res = startup(args.repeats, args.data_dir, argv)
        return _record(out, "startup", res, args, code, render_startup(res))

    with tempfile.TemporaryDirectory(prefix="tinynets-bench-") as tmp:
        settings = _settings(args, Path(tmp))
        quick_data = ["data.verify=false"] if args.quick else []
        if args.what == "fast":
            return _fast(args, settings, out, argv, code)
        if args.what == "sweeps":
            res = sweeps([f"paths.data_dir={settings.data_dir}", *quick_data, *args.overrides],
                         LRS[:2] if args.quick else LRS, Path(tmp) / "sweeps", args.quick, argv)
            return _record(out, "sweeps", res, args, code, render_sweeps(res))
        if args.what == "search":
            res = search_bench(settings.data_dir, Path(tmp) / "search", 1 if args.quick and not args.repeats_given
                               else args.repeats, args.quick, args.overrides, argv)
            return _record(out, "search", res, args, code, render_search(res))
        if args.what == "gpu":
            res = gpu(settings.data_dir, Path(tmp) / "gpu", args.device, args.quick, [*quick_data, *args.overrides],
                      argv)
            return _record(out, "gpu", res, args, code, render_gpu({"machines": {"": res}}))
        res = throughput(settings, quick=args.quick, argv=argv)
    return _record(out, "throughput", res, args, code, render_throughput(res))


def _record(out: Path, section: str, res: dict, args: argparse.Namespace, code: dict | None,
            text: Sequence[str]) -> int:
    """Print the invocation's section; unless --allow-dirty, save it (results.json / gpu.json, its
    history row) and render the README, if the code it ran is the code it started with (a commit or
    an edit during a bench of record would leave a record naming code that did not run): 0, or 2."""
    print("\n".join(text))
    if args.allow_dirty:
        print(f"--allow-dirty: measured, not recorded ({out / 'results.json'} and the README untouched)")
        return 0
    now = res["code"] = res.get("code") or code_state()
    if not args.quick and now != code:
        return report(f"the code changed while the bench ran (at the start {_code_text(code)}, at the end "
                      f"{_code_text(now)}): not recorded; commit first and run it again")
    save(out, section, res)
    print(f"recorded: {out / 'results.json'}, {write_readme(out)}")
    return 0


def _code_text(code: dict | None) -> str:
    code = code or {}
    return f"{(code.get('commit') or 'no commit')[:10]}{' with uncommitted changes' if code.get('dirty') else ''}"


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


def _fast(args: argparse.Namespace, settings: Settings, out: Path, argv: Sequence[str] | None,
          code: dict | None) -> int:
    """`bench fast`: experiment=fast (or the overrides) per seed and one write-up epoch of (a), in
    each of `--repeats` interleaved repeats (--quick: 1 unless --repeats is given)."""
    overrides = args.overrides or ["experiment=fast"]
    if settings.data_dir != str(ROOT / "data"):
        overrides = [*overrides, f"paths.data_dir={settings.data_dir}"]
    if args.quick:  # a smoke test of the path: one epoch on the synthetic data
        overrides = [*overrides, "data.verify=false", "trainer.max_epochs=1"]
    target = None if args.no_target else target_acc()
    runs_root = Path(settings.data_dir) / "runs" if args.quick else ROOT / "outputs" / "bench"
    repeats = 1 if args.quick and not args.repeats_given else args.repeats
    res = fast(args.seeds, overrides, args.label, target, argv, writeup=settings, runs_root=runs_root,
               repeats=repeats)
    res["quick"] = args.quick
    status = _record(out, args.label, res, args, code, render_fast(res))
    return status or (0 if res["all_reached"] or target is None or args.quick else 1)


if __name__ == "__main__":
    sys.exit(main())
