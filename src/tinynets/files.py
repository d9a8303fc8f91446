"""Files in and out: every output of tinynets goes through `atomic_path` (a temp file beside the
target, renamed onto it only when complete): text and bytes (`atomic_write`), JSON, CSV and figures
(`pyplot` is the one place that picks matplotlib's file-only Agg backend); JSON and CSV are read back
here too; and every checkpoint is read by `load_checkpoint` (`torch.load(weights_only=True)`: plain
data only, a pickled object is refused, never run). Shipped files (a report's template) are read
through importlib.resources (`template`), so a checkout and an installed wheel work alike."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from tinynets.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path next to `path` for any writer (open(), openpyxl, matplotlib); renamed
    onto `path` only if the block succeeds, removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have made
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str | Iterable[bytes]) -> None:
    """Write bytes, text or an iterable of byte chunks to `path`, fsynced: whole or absent."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        chunks = [data.encode()] if isinstance(data, str) else [data] if isinstance(data, bytes) else data
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures go to files; no display needed): import it from here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """A matplotlib figure as a PNG at `path`, whole or absent, and the figure closed."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)


def write_csv(path: str | os.PathLike, header: Sequence[str],
              rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> None:
    """A CSV file at `path`, whole or absent: the header, then one line per row (a sequence in the
    header's order, or a mapping read by the header's keys). None is an empty cell; a float keeps
    every digit (Python's shortest round-trip repr); lines end in \n."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            values = [row.get(k) for k in header] if isinstance(row, Mapping) else row
            writer.writerow(["" if v is None else v for v in values])
        f.flush()
        os.fsync(f.fileno())


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file with a header line, as text."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or that carries something besides plain data; `str(e)`
    is one line naming the file."""


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's contents, unpickled with `weights_only=True`: tensors, numbers, strings,
    lists and dicts only. Whatever else it carries (a class, a function: what a malicious file
    would use to run code) is refused before any of it is called."""
    import pickle

    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        import re

        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f"it names {found.group(1)}" if found else " ".join(str(e).split())[:120]
        raise CheckpointError(f"{path} carries a pickled object, not plain weights ({what}): refused, "
                              "nothing in it was run") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear line
        raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:200]})") \
            from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a Lightning checkpoint (it holds a {type(data).__name__}, not a dict)")
    return data


def template(package: str, name: str) -> str:
    """The text of a template shipped beside a module of `package` (e.g. a report's skeleton)."""
    return (resources.files(package) / name).read_text(encoding="utf-8")
