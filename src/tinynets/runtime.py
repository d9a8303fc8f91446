"""What every task (classify, the backprop sheet) and the bench use about the run they are in:
the chosen config options, the output dir, the overrides, the rank, one-line failures, quiet
Lightning, the device's name. Imports no other tinynets module but tinynets.proc."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf


def choice(cfg: DictConfig, group: str) -> str | None:
    """The option chosen for a config group (`model=gap_fc` -> "gap_fc")."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    target = OmegaConf.select(cfg, f"{group}.net._target_") or OmegaConf.select(cfg, f"{group}._target_")
    return target.rsplit(".", 1)[-1] if target else None


def device_name(accelerator: str) -> str:
    import torch

    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name()}"
    from tinynets.proc import cpu_model

    return f"cpu: {cpu_model()} ({torch.get_num_threads()} threads)"


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


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
    # DDP: val/test metrics are torchmetrics, already synced across ranks; train/loss is synced
    warnings.filterwarnings("ignore", message=r".*sync_dist=True.* when logging on epoch level")


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def global_rank() -> int:
    """This process's rank in a distributed run, from the launcher's environment (0 otherwise)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:500] + ("..." if len(text) > 500 else "")


def task_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
