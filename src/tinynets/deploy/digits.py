"""A picture of a digit -> an MNIST-style 28 x 28 input, made the way MNIST's digits were made:
grayscale, ink bright on dark (a light background is inverted), cropped to the digit, fitted into
20 x 20 keeping its aspect, placed in 28 x 28 with its centre of mass at the centre."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinynets.errors import ConfigError

BOX, SIZE = 20, 28  # MNIST: the digit fits a 20 x 20 box inside the 28 x 28 image
CENTRE = 14.0  # where MNIST's test digits have their centre of mass (0-based rows/cols: mean 13.99, 14.01)
MIN_CONTRAST = 0.15  # ink must differ from the background by this much (of the 0..1 range), else blank
INK = 0.1  # a pixel belongs to the digit (for the crop) above this fraction of the brightest ink


def load(path: str | os.PathLike):
    """The image at `path` as a PIL image, or a ConfigError naming IMAGE and the problem."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise ConfigError("IMAGE", str(path), "no such file")
    if not p.is_file():
        raise ConfigError("IMAGE", str(path), "it is not a file (a PNG or JPG of one digit)")
    try:
        with Image.open(p) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        what = "it is not an image PIL can read" if isinstance(e, UnidentifiedImageError) \
            else f"it cannot be read as an image ({' '.join(str(e).split())[:120]})"
        raise ConfigError("IMAGE", str(path), f"{what}: a PNG or JPG of one digit") from None


def grayscale(im) -> np.ndarray:
    """0..1 floats, white = 1; transparency is composited onto white (a digit drawn on a
    transparent canvas reads as ink on paper)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        return np.clip(a / top, 0, 1)
    return np.asarray(im.convert("L"), dtype=np.float64) / 255.0


def ink(a: np.ndarray) -> np.ndarray:
    """Ink bright on black, its brightest pixel 1: the background is the border's median (a light
    one is inverted first) and is subtracted."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark on light: invert
        a, background = 1.0 - a, 1.0 - background
    a = np.clip(a - background, 0, None)
    peak = float(a.max())
    if peak < MIN_CONTRAST:
        return a * 0
    return a / peak


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = a.sum()
    rows, cols = np.arange(a.shape[0]), np.arange(a.shape[1])
    return float((a.sum(1) * rows).sum() / total), float((a.sum(0) * cols).sum() / total)


def to_mnist(im, name: str = "image") -> np.ndarray:
    """A PIL image of one digit -> float32 28 x 28 in [0, 1], ink bright (ConfigError if blank)."""
    from PIL import Image

    a = ink(grayscale(im))
    mask = a > INK
    if not mask.any():
        raise ConfigError("IMAGE", name, f"it is blank: no ink differs from the background by "
                          f"{MIN_CONTRAST:.0%} of the range (one digit, dark on light or light on dark)")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    digit = a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = digit.shape
    if max(h, w) != BOX:  # fit into 20 x 20, aspect kept; LANCZOS anti-aliases like MNIST's grey edges
        scale = BOX / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        digit = np.asarray(Image.fromarray(digit.astype(np.float32), mode="F").resize(size, Image.LANCZOS),
                           dtype=np.float64)
        digit = np.clip(digit, 0, None)
        digit /= max(float(digit.max()), 1e-12)
        h, w = digit.shape
    cy, cx = centre_of_mass(digit)
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - h))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top: top + h, left: left + w] = digit
    return out


def prepare(path: str | os.PathLike) -> np.ndarray:
    """The file at `path` as an MNIST-style 28 x 28 input (ConfigError naming IMAGE if it cannot be)."""
    return to_mnist(load(path), str(path))
