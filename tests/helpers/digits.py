"""Digit-shaped synthetic data for the tests that use a trained model: digits 0-9 rendered with
Pillow's bundled font (size, stroke, rotation, shear, place and contrast varied), made into MNIST-style
28 x 28 images by tinynets.deploy.digits (as MNIST's digits were made) and written as IDX files.

Unlike conftest's squares, their class is the digit's shape, not its place: a model trained on
them still knows a digit after it was re-cropped and re-centred."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.helpers import write_idx
from tinynets.deploy.digits import to_mnist


def render(digit: int, rng: np.random.Generator, canvas: int = 112) -> Image.Image:
    """One digit, light on dark, somewhere on a canvas, rotated and sheared a little."""
    size = int(rng.integers(56, 84))
    font = ImageFont.load_default(size=size)
    im = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(im)
    stroke = int(rng.integers(0, 4))
    box = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (canvas - w) / 2 - box[0] + rng.uniform(-8, 8)
    y = (canvas - h) / 2 - box[1] + rng.uniform(-8, 8)
    draw.text((x, y), str(digit), fill=int(rng.integers(180, 256)), font=font, stroke_width=stroke,
              stroke_fill=None)
    shear = rng.uniform(-0.25, 0.25)
    im = im.transform(im.size, Image.AFFINE, (1, shear, -shear * canvas / 2, 0, 1, 0), resample=Image.BILINEAR)
    return im.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)


def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = np.stack([np.round(to_mnist(render(int(d), rng)) * 255).astype(np.uint8) for d in y])
    return x, y


def write_digit_mnist(root: Path, n_train: int = 3000, n_test: int = 400, seed: int = 0) -> Path:
    """IDX files of rendered digits in torchvision's layout under `root`; returns `root`."""
    raw = root / "MNIST" / "raw"
    for prefix, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        x, y = make(n, s)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    return root
