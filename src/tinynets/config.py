"""The config a run is composed from, and the Hydra job it is composed for: where tinynets' configs are
(`conf_dir`: `conf/`, shipped in the package as `tinynets/conf`, found through importlib.resources, so a
checkout and an installed wheel work alike), the OmegaConf resolvers conf/ uses (registered when
`tinynets` is imported; train.py does so before Hydra composes anything), and what a task reads of
its job: the option chosen for a group, the output dir, the overrides typed, whether it is one job of
a multirun. Light: omegaconf and the standard library; Hydra is imported where it is used."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

MAX_NAME = 200  # bytes; file systems allow 255 per path component


def safe_name(text: str) -> str:
    """One path component: no separators, not empty, not too long (a hash keeps it unique)."""
    name = str(text).replace(os.sep, "_").replace("/", "_").replace("\\", "_").strip() or "default"
    if name in (".", ".."):
        name = "default"
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name.encode()[: MAX_NAME - 11].decode(errors="ignore") + "_" + digest
    return name


def job_subdir(override_dirname: str, seed: object) -> str:
    """A sweep job's subdir: its overrides without the seed, then `seed=N`.

    Jobs that differ only in their seed share the first component (the group of seeds), and
    never share a dir; no overrides at all gives `default/seed=N`."""
    return f"{safe_name(override_dirname)}/seed={seed}"


def read(path: str) -> str:
    """`${tinynets.read:FILE}`: the text of FILE, stripped (a secret such as a storage URL with its
    password, kept out of the config and the command line; Hydra saves the interpolation, not the
    text). FILE may name environment variables and `~` (`${tinynets.read:$TINYNETS_STORAGE_FILE}`:
    Hydra's override grammar has no interpolation inside an interpolation's argument)."""
    from tinynets.errors import UserError

    name = os.path.expanduser(os.path.expandvars(str(path)))
    try:
        return Path(name).read_text().strip()
    except OSError as e:
        raise UserError(f"${{tinynets.read:{path}}}: cannot read {name} ({e.strerror or e})") from None


def register() -> None:
    OmegaConf.register_new_resolver("tinynets.job_subdir", job_subdir, replace=True)
    OmegaConf.register_new_resolver("tinynets.pid", os.getpid, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("tinynets.read", read, replace=True)


def conf_dir() -> Path:
    """The directory of tinynets' Hydra configs (train.yaml and its groups)."""
    path = Path(str(resources.files("tinynets") / "conf"))
    if not (path / "train.yaml").is_file():
        raise FileNotFoundError(f"tinynets' configs are missing: no train.yaml in {path}")
    return path


def choice(cfg: DictConfig, group: str) -> str | None:
    """The option chosen for a config group (`model=gap_fc` -> "gap_fc")."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    target = OmegaConf.select(cfg, f"{group}.net._target_") or OmegaConf.select(cfg, f"{group}._target_")
    return target.rsplit(".", 1)[-1] if target else None


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
