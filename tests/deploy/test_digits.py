"""tinynets.deploy.digits: pictures of a digit made into MNIST-style inputs (polarity, transparency,
crop, 20 x 20 fit keeping the aspect, centre of mass at the centre) and the bad pictures refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tinynets.deploy.digits import centre_of_mass, load, to_mnist
from tinynets.errors import ConfigError


def stroke(size=(300, 200), dark_on_light=True, mode="L"):
    """An 'L'-shaped stroke off-centre: tall (120 px) and narrow (60 px)."""
    bg, fg = (255, 0) if dark_on_light else (0, 255)
    im = Image.new(mode, size, bg if mode == "L" else (bg,) * 3)
    d = ImageDraw.Draw(im)
    d.line([(40, 30), (40, 150), (100, 150)], fill=fg if mode == "L" else (fg,) * 3, width=12)
    return im


def test_polarity_size_and_colour_do_not_matter():
    a = to_mnist(stroke())
    b = to_mnist(stroke(dark_on_light=False))
    c = to_mnist(stroke(mode="RGB").resize((900, 600), Image.BICUBIC))
    assert a.shape == (28, 28) and a.dtype == np.float32 and a.max() == pytest.approx(1.0)
    assert np.abs(a - b).max() < 1e-6
    assert np.abs(a - c).mean() < 0.02


def test_crop_fit_into_20_keeping_aspect_centre_of_mass_at_14():
    a = to_mnist(stroke())
    rows, cols = np.flatnonzero((a > 0.1).any(1)), np.flatnonzero((a > 0.1).any(0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert height == 20 and 10 <= width <= 13  # 132 x 72 px of ink -> 20 x ~11
    cy, cx = centre_of_mass(a)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_transparent_canvas_reads_as_ink_on_paper():
    im = Image.new("RGBA", (150, 150), (0, 0, 0, 0))
    ImageDraw.Draw(im).line([(75, 20), (75, 130)], fill=(0, 0, 0, 255), width=10)
    a = to_mnist(im)
    assert a.max() == pytest.approx(1.0) and (a > 0.5).sum() > 20  # a vertical bar, bright
    assert a[:, :5].max() == 0


@pytest.mark.parametrize("colour", [0, 255, 128])
def test_blank_images_are_refused(colour):
    noise = np.random.default_rng(0).integers(-8, 9, (60, 40))
    im = Image.fromarray(np.clip(colour + noise, 0, 255).astype(np.uint8))
    with pytest.raises(ConfigError, match=r"^IMAGE='blank.png' is not allowed: it is blank"):
        to_mnist(im, "blank.png")


def test_not_an_image_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ConfigError, match="is not allowed: it is not an image PIL can read"):
        load(tmp_path / "notes.png")
    with pytest.raises(ConfigError, match="is not allowed: no such file"):
        load(tmp_path / "missing.png")
