"""A trained run, for using it: its best checkpoint (read with weights_only=True), the network
rebuilt from the run's own config, MNIST's normalisation folded in (pixels in [0, 1] -> logits),
and the official test images the run's data dir holds. Export and predict start here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from tinynets.data import MEAN, STD
from tinynets.errors import ConfigError
from tinynets.files import CheckpointError, load_checkpoint
from tinynets.run.metrics import read_metrics

ALLOWED_TARGETS = "tinynets.models."  # a run's config may only build our own networks
TRAIN_HINT = "pass the dir of a trained MNIST run (python train.py ... prints 'Run dir: <dir>')"


class PixelsToLogits(nn.Module):
    """N x 1 x 28 x 28 pixels in [0, 1], ink bright as in MNIST -> N x 10 logits. The training
    normalisation is inside, so deployers need no constants."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net((pixels - MEAN) / STD)


@dataclass
class Trained:
    run_dir: Path
    ckpt: Path
    model_name: str
    params: int
    config: DictConfig
    model: PixelsToLogits  # in eval mode, on the CPU

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(pixels.float())


def _bad(run_dir: Any, allowed: str) -> ConfigError:
    return ConfigError("RUN_DIR", str(run_dir), allowed)


def _targets(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [str(v) for k, v in node.items() if k == "_target_"] + \
            [t for k, v in node.items() if k != "_target_" for t in _targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in _targets(v)]
    return []


def find_checkpoint(run_dir: Path) -> Path:
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / "checkpoints" / name).is_file():
            return run_dir / "checkpoints" / name
    raise _bad(run_dir, f"it holds no checkpoint (checkpoints/best.ckpt or last.ckpt): {TRAIN_HINT}")


def config_of(run_dir: Path, state: dict[str, Any]) -> DictConfig:
    """The run's composed config: the one its checkpoint carries (RunIdentity), else .hydra/config.yaml."""
    identity = next((v for k, v in (state.get("callbacks") or {}).items() if str(k).startswith("RunIdentity")), {})
    text = (identity.get("hydra_files") or {}).get("config.yaml") if isinstance(identity, dict) else None
    if text is None and (run_dir / ".hydra" / "config.yaml").is_file():
        text = (run_dir / ".hydra" / "config.yaml").read_text()
    if not isinstance(text, str):
        raise _bad(run_dir, "neither its checkpoint nor .hydra/config.yaml says which model it trained")
    cfg = OmegaConf.create(text)  # YAML through OmegaConf's safe loader
    if not isinstance(cfg, DictConfig):
        raise _bad(run_dir, "its config is not a mapping")
    return cfg


def is_backprop_sheet(run_dir: Path) -> bool:
    metrics = read_metrics(run_dir) or {}
    if metrics.get("task") == "backprop_sheet":
        return True
    config = run_dir / ".hydra" / "config.yaml"
    try:
        task = OmegaConf.load(config).get("task") if config.is_file() else None
        name = task.get("name") if isinstance(task, DictConfig) else task  # a plain string in older runs
        return name == "backprop_sheet"
    except Exception:  # noqa: BLE001 - an unreadable config is judged by the checkpoint below
        return False


def load_run(run_dir: str | os.PathLike) -> Trained:
    """The run's best checkpoint (else last) as a PixelsToLogits in eval mode; ConfigError naming
    RUN_DIR for a missing dir, a backprop-sheet run, no checkpoint, a checkpoint that carries
    anything but plain data, or a config that would build anything but a tinynets network."""
    from hydra.utils import instantiate

    path = Path(run_dir)
    if not path.exists():
        raise _bad(run_dir, "no such directory")
    if not path.is_dir():
        raise _bad(run_dir, f"it is not a directory: {TRAIN_HINT}")
    if is_backprop_sheet(path):
        raise _bad(run_dir, "it is a backprop-sheet run (experiment=backprop_sheet): it has no image model; "
                            + TRAIN_HINT)
    ckpt = find_checkpoint(path)
    try:
        state = load_checkpoint(ckpt)
    except CheckpointError as e:
        raise _bad(run_dir, str(e)) from None
    cfg = config_of(path, state)
    try:
        net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    except Exception as e:  # noqa: BLE001 - a config we cannot read is the run dir's problem
        raise _bad(run_dir, f"its config has no buildable model.net ({' '.join(str(e).split())[:160]})") from None
    bad = [t for t in _targets(net_cfg) if not t.startswith(ALLOWED_TARGETS)]
    if bad:
        raise _bad(run_dir, f"its config would build {bad[0]}: only {ALLOWED_TARGETS}* networks are built")
    net = instantiate(net_cfg)
    weights = {k[len("net."):]: v for k, v in (state.get("state_dict") or {}).items() if k.startswith("net.")}
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        raise _bad(run_dir, f"{ckpt.name} does not fit the model its config builds "
                            f"({' '.join(str(e).split())[:160]})") from None
    model = PixelsToLogits(net).eval()
    identity = next((v for k, v in (state.get("callbacks") or {}).items() if str(k).startswith("RunIdentity")), {})
    name = identity.get("model") or str(net_cfg.get("_target_", "model")).rsplit(".", 1)[-1]
    params = sum(p.numel() for p in net.parameters())
    return Trained(path, ckpt, name, params, cfg, model)


def data_dir_of(trained: Trained) -> Path | None:
    """Where the run read MNIST (its paths.data_dir, resolved against the dir it ran from)."""
    cfg = trained.config
    try:
        hydra_yaml = trained.run_dir / ".hydra" / "hydra.yaml"
        cwd = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.cwd") if hydra_yaml.is_file() else None
        paths = OmegaConf.to_container(cfg.paths, resolve=False)
        root = paths.get("root_dir")
        if isinstance(root, str) and "${" in root:
            root = cwd or os.getcwd()
        data = str(paths.get("data_dir", "${paths.root_dir}/data")).replace("${paths.root_dir}", str(root))
        return None if "${" in data else Path(data)
    except Exception:  # noqa: BLE001 - then the caller asks for --data-dir
        return None


def mnist_test_images(data_dir: str | os.PathLike, n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` official test images as pixels in [0, 1] (N x 1 x 28 x 28) and their labels;
    ConfigError naming --data-dir when they are not there."""
    from tinynets.data.prepare import DataError, raw_dir, read_idx

    raw = raw_dir(data_dir)
    try:
        x = read_idx(raw / "t10k-images-idx3-ubyte", n)
        y = read_idx(raw / "t10k-labels-idx1-ubyte", n)
    except (OSError, DataError) as e:
        raise ConfigError("--data-dir", str(data_dir), f"it holds no readable MNIST test set ({raw}: "
                          f"{getattr(e, 'strerror', None) or e}); prepare it with `make data` or pass "
                          "--data-dir") from None
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
        raise ConfigError("--data-dir", str(data_dir), f"{raw} does not hold 28 x 28 test images with labels")
    return torch.from_numpy(x.copy()).unsqueeze(1).float().div(255), torch.from_numpy(y.astype("int64"))
