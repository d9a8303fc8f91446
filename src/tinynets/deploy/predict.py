"""`python -m tinynets.deploy.predict RUN_DIR IMAGE... [--json]`: the digit in each picture (PNG, JPG, any
size, dark on light or light on dark), prepared as MNIST's digits were (tinynets.deploy.digits) and
classified by the run's best checkpoint; prints the digit and its top-3 probabilities."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tinynets.deploy import digits
from tinynets.deploy.load import Trained, load_run
from tinynets.errors import ConfigError, UserError, report


def classify(trained: Trained, pixels: np.ndarray | torch.Tensor, top: int = 3) -> list[dict[str, Any]]:
    """Per 28 x 28 input (N x 28 x 28 or N x 1 x 28 x 28, ink bright in [0, 1]): the digit, its
    probability and the top-`top` (digit, probability) pairs."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32)).reshape(-1, 1, 28, 28)
    probs = trained.logits(x).softmax(1)
    p, d = probs.topk(top, dim=1)
    return [{"digit": int(di[0]), "probability": float(pi[0]),
             "top": [{"digit": int(a), "probability": float(b)} for a, b in zip(di, pi)]}
            for pi, di in zip(p, d)]


def predict(run_dir: str | os.PathLike, images: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Every image is read and prepared before anything is classified: a bad one is a ConfigError
    naming it, and nothing is printed for the others."""
    if not images:
        raise ConfigError("IMAGE", None, "give one or more PNG/JPG files of a digit")
    trained = load_run(run_dir)
    pixels = np.stack([digits.prepare(p) for p in images])
    return [{"image": str(p), **r} for p, r in zip(images, classify(trained, pixels))]


def line(result: dict[str, Any]) -> str:
    tops = ", ".join(f"{t['digit']} {t['probability']:.3f}" for t in result["top"])
    return f"{result['image']}: {result['digit']}  (top 3: {tops})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinynets.deploy.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a trained MNIST run dir (holds checkpoints/)")
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="PNG/JPG files, one digit each")
    parser.add_argument("--json", action="store_true", help="one JSON document (a list, one object per image)")
    args = parser.parse_args(argv)
    try:
        results = predict(args.run_dir, args.images)
    except UserError as e:
        return report(e)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print("\n".join(line(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
