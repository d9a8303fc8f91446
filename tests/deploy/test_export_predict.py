"""Using a trained model: `python -m tinynets.deploy.export` (ONNX with onnxruntime, TorchScript) and
`python -m tinynets.deploy.predict` on picture files. The model is trained here (a few seconds, CLI) on
rendered digits (tests/helpers/digits.py); the quick tests, about output lines and refusals, use any
model (a few batches, trained in this process): a digit's class is its shape, so predicting a picture of a
test digit must agree with predicting the digit's tensor."""

from __future__ import annotations

import errno
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import run_cli, tiny
from tests.helpers.digits import write_digit_mnist
from tests.helpers.sweeps import train_inprocess
from tinynets.data import MEAN, STD
from tinynets.data.prepare import raw_dir, read_idx


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A slim model trained for 3 epochs on 2,000 rendered digits: (run dir, data dir)."""
    root = tmp_path_factory.mktemp("use_model")
    data = write_digit_mnist(root / "data", n_train=2000, n_test=300)
    run_dir = root / "run"
    done = run_cli("train.py", f"paths.data_dir={data}", "data.verify=false", "trainer.max_epochs=3",
                   "trainer.accelerator=cpu", "data.batch_size=64", f"hydra.run.dir={run_dir}", timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, data


def train_here(*args: str) -> None:
    """`python train.py <args>` in this process, on one torch thread (the quick tests' runs: what they
    check is the commands' output and refusals, not the training)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code, err = train_inprocess(*args)
    finally:
        torch.set_num_threads(n)
    assert code == 0, err[-3000:]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Any trained model (debug=fast: a few batches of one epoch on 256 rendered digits): (run dir, data dir)."""
    root = tmp_path_factory.mktemp("quick_model")
    data = write_digit_mnist(root / "data", n_train=256, n_test=64)
    train_here(*tiny(data), f"hydra.run.dir={root / 'run'}")
    return root / "run", data


@pytest.mark.slow
def test_export_onnx_runs_in_onnxruntime_like_the_torch_model(digits_run):
    import onnx
    import onnxruntime as ort

    run_dir, data = digits_run
    done = run_cli("-m", "tinynets.deploy.export", str(run_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    diff = float(re.search(r"max \|logit diff\| = (\S+) ", done.stdout).group(1))
    assert diff <= 1e-4 and "same prediction 256/256" in done.stdout and done.stdout.rstrip().endswith("ok")

    model = onnx.load(run_dir / "model.onnx")
    onnx.checker.check_model(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]  # N x 1 x 28 x 28, N dynamic

    # raw pixels in, the normalisation inside: compare with the checkpoint's net on normalised input
    x = torch.from_numpy(read_idx(raw_dir(data) / "t10k-images-idx3-ubyte")[-37:].copy()).float().div(255)
    x = x.unsqueeze(1)
    from tinynets.deploy.load import load_run

    net = load_run(run_dir).model.net
    with torch.inference_mode():
        want = net((x - MEAN) / STD).numpy()
    session = ort.InferenceSession(str(run_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == (37, 10)
    assert np.abs(got - want).max() <= 1e-4 and (got.argmax(1) == want.argmax(1)).all()
    assert not list(run_dir.glob(".model.onnx.*"))


@pytest.mark.slow
def test_export_torchscript(digits_run):
    run_dir, data = digits_run
    done = run_cli("-m", "tinynets.deploy.export", str(run_dir), "--format", "torchscript", "--n", "100")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TorchScript vs PyTorch" in done.stdout and "same prediction 100/100" in done.stdout
    loaded = torch.jit.load(str(run_dir / "model.pt"))
    assert loaded(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def render_files(x: np.ndarray, out) -> dict[str, list[str]]:
    """Each 28 x 28 test digit as PNG files: white on black and black on white, at 28 x 28 and
    upscaled to 100 x 100."""
    files: dict[str, list[str]] = {k: [] for k in ("white_on_black", "black_on_white", "white_on_black_100",
                                                   "black_on_white_100")}
    for i, img in enumerate(x):
        light = Image.fromarray(img)
        dark = Image.fromarray(255 - img)
        for key, im in (("white_on_black", light), ("black_on_white", dark),
                        ("white_on_black_100", light.resize((100, 100), Image.BICUBIC)),
                        ("black_on_white_100", dark.resize((100, 100), Image.BICUBIC))):
            path = out / f"{i:03d}_{key}.png"
            im.save(path)
            files[key].append(str(path))
    return files


@pytest.mark.slow
def test_predicting_files_agrees_with_predicting_tensors(digits_run, tmp_path):
    from tinynets.deploy.load import load_run
    from tinynets.deploy.predict import classify

    run_dir, data = digits_run
    x = read_idx(raw_dir(data) / "t10k-images-idx3-ubyte", 200)
    y = read_idx(raw_dir(data) / "t10k-labels-idx1-ubyte", 200)
    on_tensors = np.array([r["digit"] for r in classify(load_run(run_dir), x / 255.0)])
    # the model is a real one (else agreement would mean nothing): right on most, every digit seen
    assert (on_tensors == y).mean() >= 0.85 and len(set(on_tensors)) == 10

    files = render_files(x, tmp_path)
    every = [p for paths in files.values() for p in paths]
    done = run_cli("-m", "tinynets.deploy.predict", str(run_dir), *every, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["image"]: r for r in json.loads(done.stdout)}
    assert len(results) == len(every)
    for key, paths in files.items():
        on_files = np.array([results[p]["digit"] for p in paths])
        agreement = (on_files == on_tensors).mean()
        assert agreement >= 0.97, f"{key}: files agree with tensors on {agreement:.1%} only"
    r = results[files["black_on_white_100"][0]]
    assert [t["digit"] for t in r["top"]][0] == r["digit"] and len(r["top"]) == 3
    probs = [t["probability"] for t in r["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_predict_prints_digit_and_top3(quick_run, tmp_path):
    run_dir, data = quick_run
    x = read_idx(raw_dir(data) / "t10k-images-idx3-ubyte", 1)
    odd = Image.fromarray(255 - x[0]).resize((61, 143), Image.BILINEAR)  # odd size, aspect not kept
    odd.convert("RGB").save(tmp_path / "odd.jpg", quality=90)
    done = run_cli("-m", "tinynets.deploy.predict", str(run_dir), str(tmp_path / "odd.jpg"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.fullmatch(r".*odd\.jpg: \d  \(top 3: \d 0\.\d{3}, \d 0\.\d{3}, \d 0\.\d{3}\)\n", done.stdout)


@pytest.fixture(scope="module")
def sheet_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sheet") / "run"
    train_here("experiment=backprop_sheet", "iterations=3", f"hydra.run.dir={run_dir}")
    return run_dir


def test_bad_input_is_one_line_exit_2_nothing_written(quick_run, sheet_run, tmp_path, capsys, monkeypatch):
    from tinynets.deploy import export, predict

    run_dir, data = quick_run
    (tmp_path / "notes.png").write_text("not a picture")
    Image.new("RGB", (64, 48), (250, 250, 250)).save(tmp_path / "blank.png")
    Image.fromarray(read_idx(raw_dir(data) / "t10k-images-idx3-ubyte", 1)[0]).save(tmp_path / "ok.png")
    (tmp_path / "empty").mkdir()
    no_ckpt, missing = tmp_path / "empty", tmp_path / "nope"
    hint = "pass the dir of a trained MNIST run (python train.py ... prints 'Run dir: <dir>')"
    cases = [
        (predict, [run_dir, tmp_path / "ok.png", tmp_path / "notes.png"],
         f"IMAGE='{tmp_path / 'notes.png'}' is not allowed: it is not an image PIL can read: a PNG or JPG of one digit"),
        (predict, [run_dir, tmp_path / "blank.png"],
         f"IMAGE='{tmp_path / 'blank.png'}' is not allowed: it is blank: no ink differs from the background by "
         "15% of the range (one digit, dark on light or light on dark)"),
        (predict, [run_dir, tmp_path / "gone.png"], f"IMAGE='{tmp_path / 'gone.png'}' is not allowed: no such file"),
        (predict, [no_ckpt, tmp_path / "ok.png"], f"RUN_DIR='{no_ckpt}' is not allowed: it holds no checkpoint "
                                                  f"(checkpoints/best.ckpt or last.ckpt): {hint}"),
        (predict, [sheet_run, tmp_path / "ok.png"], f"RUN_DIR='{sheet_run}' is not allowed: it is a backprop-sheet "
                                                    f"run (experiment=backprop_sheet): it has no image model; {hint}"),
        (export, [missing], f"RUN_DIR='{missing}' is not allowed: no such directory"),
        (export, [sheet_run], f"RUN_DIR='{sheet_run}' is not allowed: it is a backprop-sheet run "
                              f"(experiment=backprop_sheet): it has no image model; {hint}"),
        (export, [run_dir, "--format", "tflite"], "--format='tflite' is not allowed: one of onnx, torchscript"),
    ]
    for module, args, message in cases:
        before = sorted(p.name for p in run_dir.iterdir())
        code = module.main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert (code, out, err) == (2, "", f"error: {message}\n"), args
        assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written, no temp file left
    code = export.main([str(run_dir), "--data-dir", str(no_ckpt)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --data-dir='{no_ckpt}' is not allowed: it holds no readable MNIST "
                                        "test set") and err.count("\n") == 1

    def read_only(path):  # what a read-only or full run dir does to the export's temporary file
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(export, "atomic_path", read_only)
    code = export.main([str(run_dir), "--data-dir", str(data), "--n", "8"])
    assert (code, capsys.readouterr().err) == (2, f"error: RUN_DIR='{run_dir}' is not allowed: model.onnx cannot be "
                                                  "written there (Read-only file system)\n")


@pytest.mark.slow
def test_an_export_that_fails_its_check_is_not_written(digits_run, tmp_path, monkeypatch, capsys):
    """The check runs on the temporary file: failing it leaves no model file and exits 1."""
    import shutil

    from tinynets.deploy import export

    run_dir = tmp_path / "copy"
    shutil.copytree(digits_run[0], run_dir, ignore=shutil.ignore_patterns("model.*"))
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no exported model can be that exact
    code = export.main([str(run_dir), "--data-dir", str(digits_run[1]), "--n", "16"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: the export was not written: check on 16 MNIST test images: ")
    assert err.rstrip().endswith("FAILED") and err.count("\n") == 1
    assert not [p for p in run_dir.iterdir() if "model." in p.name]


@pytest.mark.parametrize("task", ["backprop_sheet", "{name: backprop_sheet, run: tinynets.backprop.runner.run_sheet}"])
def test_a_sheet_run_is_known_by_its_config_alone(tmp_path, task):
    """A sheet run without metrics.json: its .hydra/config.yaml says so (`task` a string in older runs)."""
    from tinynets.deploy.load import is_backprop_sheet

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(f"task: {task}\n")
    assert is_backprop_sheet(tmp_path)
    (tmp_path / ".hydra" / "config.yaml").write_text("task: {name: classify, run: tinynets.run.classify.classify}\n")
    assert not is_backprop_sheet(tmp_path)
