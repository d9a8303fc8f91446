"""OmegaConf resolvers used by conf/ (registered when `tinynets` is imported; train.py does so
before Hydra composes anything). Light: omegaconf and the standard library only."""

from __future__ import annotations

import hashlib
import os

from omegaconf import OmegaConf

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


def register() -> None:
    OmegaConf.register_new_resolver("tinynets.job_subdir", job_subdir, replace=True)
    OmegaConf.register_new_resolver("tinynets.pid", os.getpid, use_cache=True, replace=True)
