"""MNIST preparation on tiny synthetic IDX files: sources in order, MD5 checks, the
verification cache, atomic writes, the restricted unpickler and the all-sources-failed line;
in a training run: corrupt files as one line, two trainings preparing one empty data dir."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, cli_env, synthetic_mnist, tiny
from tests.helpers.sweeps import run_single
from tinynets.data import prepare as P

rng = np.random.default_rng(0)
FILES = {
    "train-images-idx3-ubyte": P.idx_bytes(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)),
    "train-labels-idx1-ubyte": P.idx_bytes(rng.integers(0, 10, 20, dtype=np.uint8)),
    "t10k-images-idx3-ubyte": P.idx_bytes(rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)),
    "t10k-labels-idx1-ubyte": P.idx_bytes(rng.integers(0, 10, 8, dtype=np.uint8)),
}
EXPECTED = {name: (hashlib.md5(data).hexdigest(), len(data)) for name, data in FILES.items()}


def good_source(calls):
    def fetch(raw, names):
        calls.append(list(names))
        for name in names:
            P.atomic_write(raw / name, FILES[name])
    return fetch


def failing_source(raw, names):
    raise ConnectionError("no route to host")


@pytest.fixture
def sources(monkeypatch):
    calls: list = []
    monkeypatch.setattr(P, "SOURCES", {"down": failing_source, "good": good_source(calls)})
    return calls


def test_idx_header_is_what_torchvision_reads(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    (tmp_path / "i").write_bytes(P.idx_bytes(x))
    (tmp_path / "l").write_bytes(P.idx_bytes(np.array([7, 2, 1], dtype=np.uint8)))
    assert (read_image_file(str(tmp_path / "i")).numpy() == x).all()
    assert read_label_file(str(tmp_path / "l")).tolist() == [7, 2, 1]


def test_sources_are_tried_in_order_until_files_verify(tmp_path, sources):
    raw = P.prepare_mnist(tmp_path, ["down", "good"], EXPECTED)
    assert sources == [list(EXPECTED)]
    assert all((raw / n).read_bytes() == FILES[n] for n in FILES)


def test_files_in_place_need_no_source_and_are_hashed_once(tmp_path, sources, monkeypatch):
    P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    hashed = []
    real_md5 = P.md5sum
    monkeypatch.setattr(P, "md5sum", lambda p: hashed.append(p.name) or real_md5(p))
    P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    assert hashed == [] and len(sources) == 1  # cache hit: nothing re-hashed, nothing fetched


def test_checksum_mismatch_is_removed_and_fetched_again(tmp_path, sources):
    raw = P.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    for name, data in FILES.items():
        (raw / name).write_bytes(data)
    bad = bytearray(FILES["t10k-labels-idx1-ubyte"])
    bad[-1] ^= 0xFF  # same size, one flipped byte
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(bad))
    P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    assert sources == [["t10k-labels-idx1-ubyte"]]
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == FILES["t10k-labels-idx1-ubyte"]


def test_file_changed_after_verification_is_checked_again(tmp_path, sources):
    raw = P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\0" * 12)  # truncated by some other tool
    assert P.verify(raw, EXPECTED) == ["train-labels-idx1-ubyte"]
    assert not (raw / "train-labels-idx1-ubyte").exists()


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "train-images-idx3-ubyte"

    def chunks():
        yield FILES["train-images-idx3-ubyte"][:1000]
        raise KeyboardInterrupt  # the user hits Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        P.atomic_write(target, chunks())
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temp part


def test_interrupted_source_then_retry(tmp_path, monkeypatch):
    """A source that dies after one file: that file is whole, the rest absent; a rerun completes."""
    def dies_midway(raw, names):
        names = list(names)
        P.atomic_write(raw / names[0], FILES[names[0]])
        raise OSError("connection reset")

    monkeypatch.setattr(P, "SOURCES", {"flaky": dies_midway, "good": good_source([])})
    with pytest.raises(P.DataError):
        P.prepare_mnist(tmp_path, ["flaky"], EXPECTED)
    raw = P.raw_dir(tmp_path)
    assert sorted(p.name for p in raw.iterdir() if not p.name.startswith(".")) == [next(iter(FILES))]
    P.prepare_mnist(tmp_path, ["good"], EXPECTED)
    assert P.verify(raw, EXPECTED) == []


def test_all_sources_fail_gives_one_line_that_says_what_was_tried(tmp_path, sources):
    with pytest.raises(P.DataError) as e:
        P.prepare_mnist(tmp_path, ["down"], EXPECTED)
    msg = str(e.value)
    assert "\n" not in msg
    assert "down: ConnectionError: no route to host" in msg
    assert "by hand" in msg and str(P.raw_dir(tmp_path)) in msg


def test_cli_reports_failure_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(P, "SOURCES", {"down": failing_source})
    assert P.main(["--root", str(tmp_path), "--sources", "down"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: MNIST is not available") and "\n" not in err


def _pickle_gz(obj) -> bytes:
    buf = io.BytesIO()
    with gzip.open(buf, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return buf.getvalue()


def test_pickle_source_rebuilds_idx_exactly():
    """The classic pickle stores pixel/256 as float32; pixel = round(x * 256) is exact."""
    pix = rng.integers(0, 256, (6, 28 * 28), dtype=np.uint8)
    lab = np.arange(6, dtype=np.int64)
    x = (pix / 256.0).astype(np.float32)
    files = P.mnist_from_pickle(_pickle_gz(((x[:3], lab[:3]), (x[3:5], lab[3:5]), (x[5:], lab[5:]))))
    assert files["train-images-idx3-ubyte"] == P.idx_bytes(pix[:5].reshape(-1, 28, 28))
    assert files["train-labels-idx1-ubyte"] == P.idx_bytes(lab[:5].astype(np.uint8))
    assert files["t10k-images-idx3-ubyte"] == P.idx_bytes(pix[5:].reshape(-1, 28, 28))


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_anything_but_arrays():
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        P.mnist_from_pickle(_pickle_gz(_Evil()))


# ----------------------------------------------------------------------------- in a training run
def test_corrupted_idx_file_used_unchecked(make_cfg, tiny_mnist, capsys):
    raw = tiny_mnist / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    raw.write_bytes(raw.read_bytes()[:50])
    cfg = make_cfg(*tiny(tiny_mnist))
    code, err = run_single(cfg, capsys)
    assert code == 2 and err == (f"error: paths.data_dir='{tiny_mnist}' is not allowed: {raw} is not a valid MNIST "
                                 "IDX file: it has 50 bytes, its header says 136 (truncated or corrupt) (with "
                                 "data.verify=true a corrupt file is fetched again)\n")
    assert list(Path(cfg.paths.output_dir).iterdir()) == []


def test_corrupted_idx_file_with_md5_check_and_no_source(make_cfg, tiny_mnist, capsys):
    """MD5 mismatch: the file is removed and fetched again; with no source reachable, one line."""
    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.sources=[]")
    code, err = run_single(cfg, capsys)
    raw = tiny_mnist / "MNIST" / "raw"
    assert code == 2 and err.startswith(f"error: MNIST is not available in {raw} (tried files in place: missing or "
                                        "corrupt train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)")
    assert err.count("\n") == 1 and not any(raw.glob("*-ubyte"))  # the corrupt files are gone
    assert list(Path(cfg.paths.output_dir).iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_two_trainings_at_once_on_an_empty_data_dir(tmp_path):
    """Both prepare the same empty data dir from a slow source: one fetches under the file lock,
    the other waits for it and finds the files verified; both train."""
    files = synthetic_mnist(tmp_path / "src")
    data, calls = tmp_path / "data", tmp_path / "calls"
    env = cli_env(FAKE_MNIST_FILES=str(files), FAKE_MNIST_CALLS=str(calls))
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "helpers" / "fake_source_train.py"), "debug=fast",
                               "~callbacks.test_figures", f"paths.data_dir={data}", "data.sources=[fake]",
                               f"hydra.run.dir={tmp_path / f'run{i}'}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert len(calls.read_text().split()) == 1  # one download, not two
    assert all(json.loads((tmp_path / f"run{i}" / "metrics.json").read_text())["status"] == "ok" for i in (0, 1))
    assert sorted(p.name for p in (data / "MNIST" / "raw").iterdir()) == [
        ".lock", ".verified.json", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte"]
