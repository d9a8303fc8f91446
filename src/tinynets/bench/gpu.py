"""`python -m tinynets.bench gpu` (`make bench-gpu`), the GPU bench: on one GPU, 20 epochs of
deep_narrow with `trainer=gpu` (the whole command, and img/s over its epochs), the six-LR
backprop-sheet sweep as the README runs it, and an 18-job deep_narrow sweep (6 lrs x 3 seeds, 2
epochs each) run one job after another (Hydra's basic launcher) and sharing the GPU through joblib
(n_jobs=6). Results: experiments/bench/gpu.json. `--device cpu --quick` runs the same path on CPU
on synthetic data with fewer jobs and epochs (the tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench.clock import load_conditions, machine, record_header
from tinynets.bench.fast import timed_run
from tinynets.bench.sweeps import timed_sweep

SHEET_LRS = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)  # README: python train.py -m experiment=backprop_sheet lr=...
SWEEP_LRS = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1)  # around deep_narrow's write-up lr=0.04
SWEEP_SEEDS = (0, 1, 2)
SHARED_JOBS = 6


def train_images(data_dir: str) -> int:
    """The number of images in the train split (one epoch): its IDX labels file's length."""
    from tinynets.data.prepare import raw_dir, read_idx

    return len(read_idx(raw_dir(data_dir) / "train-labels-idx1-ubyte"))


def no_gpu() -> str | None:
    """Why there is no CUDA device to bench on, or None."""
    import torch

    if torch.cuda.is_available():
        return None
    return (f"torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda}); "
            "`--device cpu --quick` runs the same path on CPU")


def gpu(data_dir: str, workdir: Path, device: str = "cuda", quick: bool = False, extra: Sequence[str] = (),
        argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The three GPU measurements (see the module docstring), in this order."""
    trainer = "trainer=gpu" if device == "cuda" else "trainer=cpu"
    data = [f"paths.data_dir={data_dir}", *extra]
    epochs, sweep_epochs = (1, 1) if quick else (20, 2)
    lrs, seeds, n_jobs = (SWEEP_LRS[:2], SWEEP_SEEDS[:1], 2) if quick else (SWEEP_LRS, SWEEP_SEEDS, SHARED_JOBS)
    sheet_lrs = SHEET_LRS[:2] if quick else SHEET_LRS
    n_train = train_images(data_dir)
    before = load_conditions(window_s=0.5)

    one = timed_run(["experiment=deep_narrow", trainer, f"trainer.max_epochs={epochs}", *data],
                    workdir / "deep_narrow", target=None)
    one_train_s = sum(e["epoch_s"] for e in one["epochs"])
    one.update(train_command="python train.py " + " ".join(one["overrides"][:3]), epochs_s=round(one_train_s, 2),
               img_per_s=round(n_train * len(one["epochs"]) / one_train_s, 1) if one_train_s else None)
    sheet = timed_sweep(["experiment=backprop_sheet", "lr=" + ",".join(f"{lr:g}" for lr in sheet_lrs)],
                        workdir / "sheet")

    base = ["experiment=deep_narrow", trainer, "lr=" + ",".join(f"{lr:g}" for lr in lrs),
            "seed=" + ",".join(map(str, seeds)), f"trainer.max_epochs={sweep_epochs}", *data]
    shared_overrides = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"]
    n = len(lrs) * len(seeds)
    runs = {"sequential": timed_sweep(base, workdir / "sequential", expect_jobs=n),
            "shared": timed_sweep([*base, *shared_overrides], workdir / "shared", expect_jobs=n)}
    for r in runs.values():
        r["img_per_s"] = round(n_train * r["epochs"] / r["wall_s"], 1)  # whole command: start-up included
    return {
        **record_header(argv, before, quick=quick, window_s=0.5),
        "machine": machine([one.get("device") or ""]),
        "device": one.get("device"),
        "train_images": n_train,
        "deep_narrow": one,
        "deep_narrow_epochs": epochs,
        "deep_narrow_20_epochs_s": one["wall_s"],  # the whole command (quick: 1 epoch)
        "sheet_sweep": sheet,
        "sheet_sweep_s": sheet["wall_s"],
        "sweep": {"jobs": n, "epochs_each": sweep_epochs, "shared_jobs": n_jobs,
                  "launcher_overrides": shared_overrides, **runs},
        "shared_vs_sequential": round(runs["sequential"]["wall_s"] / runs["shared"]["wall_s"], 3),
    }
