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


def read(path: str) -> str:
    """`${tinynets.read:FILE}`: the text of FILE, stripped (a secret such as a storage URL with its
    password, kept out of the config and the command line; Hydra saves the interpolation, not the
    text). FILE may name environment variables and `~` (`${tinynets.read:$TINYNETS_STORAGE_FILE}`:
    Hydra's override grammar has no interpolation inside an interpolation's argument)."""
    from pathlib import Path

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
