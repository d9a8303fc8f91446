"""Augmentation of whole batches with tensor ops, on whatever device the batch lives on.

Kept over torchvision's RandomAffine: that draws one affine per call (a call per image on the
CPU), this one per image in one batched `grid_sample` on the training device (faster: `make bench`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, rotation: float = 0.0, translate: float = 0.0, scale: float = 0.0, p: float = 1.0,
            padding: str = "zeros", brightness: float = 0.0, contrast: float = 0.0, photometric_p: float = 1.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """The `data.augment` config applied to a batch in [0, 1]: `random_affine`, then
    `random_brightness_contrast` (each image drawn independently for each)."""
    x = random_affine(x, rotation, translate, scale, p=p, padding=padding, generator=generator)
    return random_brightness_contrast(x, brightness, contrast, p=photometric_p, generator=generator)


def _uniform(n: int, a: float, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return (torch.rand(n, device=x.device, generator=generator) * 2 - 1) * a


def _chosen(n: int, p: float, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Which images (N,) a transform with probability `p` applies to."""
    return torch.rand(n, device=x.device, generator=generator) < p


def random_affine(
    x: torch.Tensor,
    rotation: float = 0.0,
    translate: float = 0.0,
    scale: float = 0.0,
    generator: torch.Generator | None = None,
    *,
    p: float = 1.0,
    padding: str = "zeros",
) -> torch.Tensor:
    """Rotate each image of `x` (N, C, H, W) by U(-rotation, rotation) degrees, shift it by up to
    `translate` x its size and scale it by U(1 - scale, 1 + scale), in one `affine_grid` +
    `grid_sample` call (bilinear; `padding` zeros: apply before normalising so zero is background,
    or reflection, as albumentations' ShiftScaleRotate). With `p` < 1 each image is transformed
    with probability p, the others pass unchanged (an identity affine)."""
    if rotation == 0 and translate == 0 and scale == 0 or p <= 0:
        return x
    n = x.shape[0]
    chosen = _chosen(n, p, x, generator) if p < 1 else None  # one draw per image for all four parameters

    def uniform(a: float) -> torch.Tensor:
        v = _uniform(n, a, x, generator)
        return v if chosen is None else v * chosen

    angle = uniform(math.radians(rotation))
    s = 1 + uniform(scale)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    # grid coordinates are in [-1, 1], so a shift of t * size is 2t
    tx, ty = uniform(2 * translate), uniform(2 * translate)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def random_brightness_contrast(x: torch.Tensor, brightness: float = 0.0, contrast: float = 0.0, p: float = 1.0,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    """albumentations' RandomBrightnessContrast on images in [0, 1]: x * U(1 - contrast, 1 + contrast)
    + U(-brightness, brightness), clipped to [0, 1], each image with probability `p`."""
    if brightness == 0 and contrast == 0 or p <= 0:
        return x
    n = x.shape[0]
    keep = _chosen(n, p, x, generator) if p < 1 else torch.ones(n, dtype=torch.bool, device=x.device)
    alpha = torch.where(keep, 1 + _uniform(n, contrast, x, generator), 1.0).view(n, 1, 1, 1)
    beta = torch.where(keep, _uniform(n, brightness, x, generator), 0.0).view(n, 1, 1, 1)
    return (x * alpha.to(x.dtype) + beta.to(x.dtype)).clamp_(0, 1)
