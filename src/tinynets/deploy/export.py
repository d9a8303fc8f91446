"""`python -m tinynets.deploy.export RUN_DIR [--format onnx|torchscript]`: the run's best checkpoint as
RUN_DIR/model.onnx (or model.pt), pixels in [0, 1] -> logits with MNIST's normalisation inside and
a dynamic batch axis, checked against the PyTorch model on test images before it is put in place."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from tinynets.deploy.load import Trained, data_dir_of, load_run, mnist_test_images
from tinynets.errors import ConfigError, UserError, report
from tinynets.files import atomic_path

FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
TOLERANCE = 1e-4  # max |logit difference| allowed between the exported model and PyTorch
OPSET = 18


@dataclass
class Check:
    runtime: str
    n: int
    max_abs_diff: float
    same_predictions: int
    accuracy: float
    batch_sizes: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE and self.same_predictions == self.n

    def line(self) -> str:
        return (f"check on {self.n} MNIST test images: {self.runtime} vs PyTorch max |logit diff| = "
                f"{self.max_abs_diff:.2e} (<= {TOLERANCE:g}: {'yes' if self.max_abs_diff <= TOLERANCE else 'NO'}), "
                f"same prediction {self.same_predictions}/{self.n}, accuracy {self.accuracy:.2f}%, "
                f"batch sizes {', '.join(map(str, self.batch_sizes))}: {'ok' if self.ok else 'FAILED'}")


class CheckFailed(UserError):
    """The exported model does not compute what the PyTorch model computes (nothing was written):
    `the export was not written: <the check's line>`, exit status 1."""

    code = 1

    def __init__(self, check: Check) -> None:
        self.check = check
        super().__init__(f"the export was not written: {check.line()}")


def _compare(runtime: str, run_model, trained: Trained, x: torch.Tensor, y: torch.Tensor) -> Check:
    """The exported model on all images at once and in odd-sized batches (the batch axis is dynamic)."""
    want = trained.logits(x)
    sizes = (len(x), 1, 7)
    got_all = run_model(x)
    got_small = torch.cat([run_model(x[i: i + 7]) for i in range(0, min(len(x), 21), 7)] + [run_model(x[:1])])
    ref_small = torch.cat([want[:min(len(x), 21)], want[:1]])
    diff = max(float((got_all - want).abs().max()), float((got_small - ref_small).abs().max()))
    same = int((got_all.argmax(1) == want.argmax(1)).sum())
    acc = float((got_all.argmax(1) == y).float().mean() * 100)
    return Check(runtime, len(x), diff, same, acc, sizes)


def export_onnx(trained: Trained, path: Path) -> None:
    import logging
    import warnings

    example = torch.rand(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1)
    # the exporter's optimizer passes report each step at INFO (a notebook's logging would show them)
    quiet = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(trained.model, (example,), input_names=["pixels"], output_names=["logits"],
                                        dynamic_shapes={"pixels": {0: batch}}, opset_version=OPSET, dynamo=True,
                                        external_data=False, verbose=False)
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    program.save(str(path), external_data=False)


def check_onnx(trained: Trained, path: Path, x: torch.Tensor, y: torch.Tensor) -> Check:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: batch.numpy()})[0])

    return _compare(f"onnxruntime {ort.__version__}", run, trained, x, y)


def export_torchscript(trained: Trained, path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(trained.model, torch.rand(2, 1, 28, 28))
        torch.jit.save(scripted, str(path))


def check_torchscript(trained: Trained, path: Path, x: torch.Tensor, y: torch.Tensor) -> Check:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu").eval()

    def run(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return loaded(batch)

    return _compare("TorchScript", run, trained, x, y)


def export(run_dir: str | os.PathLike, fmt: str = "onnx", data_dir: str | os.PathLike | None = None,
           n: int = 256) -> tuple[Path, Check]:
    """Write RUN_DIR/model.onnx (or model.pt) and return it with its check; ConfigError for bad input,
    CheckFailed (nothing written) when the exported model disagrees with PyTorch."""
    if fmt not in FILES:
        raise ConfigError("--format", fmt, f"one of {', '.join(FILES)}")
    trained = load_run(run_dir)
    if data_dir is None:
        data_dir = data_dir_of(trained)
        if data_dir is None:
            raise ConfigError("--data-dir", None, "the run's config does not say where MNIST is: pass --data-dir")
    x, y = mnist_test_images(data_dir, n)
    out = trained.run_dir / FILES[fmt]
    write, check = (export_onnx, check_onnx) if fmt == "onnx" else (export_torchscript, check_torchscript)
    with atomic_path(out) as tmp:  # checked before it is renamed into place
        write(trained, tmp)
        result = check(trained, tmp, x, y)
        if not result.ok:
            raise CheckFailed(result)
    return out, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinynets.deploy.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a trained MNIST run dir (holds checkpoints/)")
    parser.add_argument("--format", default="onnx", help="onnx (default: model.onnx) or torchscript (model.pt)")
    parser.add_argument("--data-dir", default=None, help="MNIST for the check (default: the run's paths.data_dir)")
    parser.add_argument("--n", type=int, default=256, help="test images in the check (default 256)")
    args = parser.parse_args(argv)
    try:
        if args.n < 1:
            raise ConfigError("--n", args.n, "an integer >= 1")
        out, result = export(args.run_dir, args.format, args.data_dir, args.n)
    except UserError as e:  # a bad argument or run dir (2), or the check failed (1)
        return report(e)
    except OSError as e:  # the run dir cannot be written (read-only, full)
        return report(ConfigError("RUN_DIR", args.run_dir, f"{FILES.get(args.format)} cannot be written there "
                                  f"({e.strerror or e})"))
    print(f"wrote {out}: input 'pixels' N x 1 x 28 x 28 in [0, 1] (ink bright, as MNIST), dynamic batch, "
          f"MNIST normalisation inside; output 'logits' N x 10")
    print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
