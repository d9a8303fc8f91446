"""Where tinynets' shipped files are: the Hydra configs (`conf/`, shipped in the package as
`tinynets/conf`) and the report templates, found through importlib.resources, so tinynets works
from a checkout and from an installed wheel alike."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def conf_dir() -> Path:
    """The directory of tinynets' Hydra configs (train.yaml and its groups)."""
    path = Path(str(resources.files("tinynets") / "conf"))
    if not (path / "train.yaml").is_file():
        raise FileNotFoundError(f"tinynets' configs are missing: no train.yaml in {path}")
    return path


def template(package: str, name: str) -> str:
    """The text of a template shipped beside a module of `package` (e.g. a report's skeleton)."""
    return (resources.files(package) / name).read_text(encoding="utf-8")


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process (`python train.py`, `python -m tinynets.run`) that imports
    the same tinynets as this process: the directory it was imported from first on PYTHONPATH."""
    import os

    env = dict(os.environ if env is None else env)
    where = str(Path(str(resources.files("tinynets"))).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join([where, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)])
    return env
