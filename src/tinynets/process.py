"""This process and the machine it runs on: its rank in a distributed run, the seconds since it
started, the CPU model and the device's name (a run's record, the bench's), Lightning's console
lines kept to the useful ones, and the environment for a child process that imports the same
tinynets. Imports no other tinynets module (the bench's start-up probe times from its first line)."""

from __future__ import annotations

import logging
import os
import platform
import re
import time
from pathlib import Path


def global_rank() -> int:
    """This process's rank in a distributed run, from the launcher's environment (0 otherwise)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def seconds_since_start() -> float | None:
    """Seconds since this process was started (exec'd by the shell), from /proc on Linux
    (10 ms resolution); None where that is not available."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        start_ticks = int(stat.rpartition(")")[2].split()[19])  # field 22: starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


THREADS = re.compile(r"\((\d+) threads\)")  # device_name's CPU threads, as a run's record shows them


def threads_of(device: object) -> int | None:
    """The torch threads a record's `device` names (device_name's form), or None (a GPU, no record)."""
    m = THREADS.search(str(device))
    return int(m[1]) if m else None


def device_name(accelerator: str) -> str:
    import torch

    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {cpu_model()} ({torch.get_num_threads()} threads)"


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
    if "SLURM_JOB_ID" not in os.environ:  # a local run on a machine with SLURM installed: srun is not for it
        warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")
    # DDP: val/test metrics are torchmetrics, already synced across ranks; train/loss is synced
    warnings.filterwarnings("ignore", message=r".*sync_dist=True.* when logging on epoch level")


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process (`python train.py`, `python -m tinynets.run`) that imports
    the same tinynets as this process: the directory it was imported from first on PYTHONPATH."""
    from importlib import resources

    env = dict(os.environ if env is None else env)
    where = str(Path(str(resources.files("tinynets"))).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join([where, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)])
    return env
