"""The public 3,762-param net (tinynets.models.public) as published, its schedule and its augmentation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinynets.data.augment import augment, random_brightness_contrast
from tinynets.errors import ConfigError
from tinynets.models.public import plain_3762
from tinynets.models.schedules import piecewise_linear


def test_plain_3762_is_the_published_net():
    net = plain_3762()
    assert net.num_params == 3762
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 4, 8, 8, 8, 8, 8, 8, 10]
    assert all(c.bias is not None and torch.all(c.bias == 0) for c in convs)  # biases, zero at init
    # conv -> BN -> ReLU, as its Block runs them
    assert [type(m).__name__ for m in net.c1] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_piecewise_linear_is_the_published_one_cycle():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = piecewise_linear(opt, epochs=[0, 2, 8, 15], factors=[0.5, 1.0, 0.1, 0.0])
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # the notebook's np.interp(np.arange(16), [0, 2, 8, 15], [0.05, 0.1, 0.01, 0])
    expected = [0.05, 0.075, 0.1, 0.085, 0.07, 0.055, 0.04, 0.025, 0.01] + [0.01 * (7 - k) / 7 for k in range(1, 8)]
    assert lrs == pytest.approx(expected)


def test_piecewise_linear_refuses_points_out_of_order():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ConfigError, match=r"^scheduler\.fn\.epochs=\[0, 8, 2\] is not allowed"):
        piecewise_linear(opt, epochs=[0, 8, 2], factors=[1, 1, 1])


def test_brightness_contrast_per_image_and_clipped():
    g = torch.Generator().manual_seed(0)
    x = torch.full((400, 1, 4, 4), 0.5)
    y = random_brightness_contrast(x, brightness=0.2, contrast=0.2, p=0.5, generator=g)
    changed = (y != x).flatten(1).any(1)
    assert 0.4 < changed.float().mean() < 0.6  # about half the images
    assert y.min() >= 0 and y.max() <= 1
    assert torch.all(y[changed] >= 0.5 * 0.8 - 0.2 - 1e-6) and torch.all(y[changed] <= 0.5 * 1.2 + 0.2 + 1e-6)
    ones = random_brightness_contrast(torch.ones(50, 1, 2, 2), brightness=0.2, contrast=0.0, generator=g)
    assert ones.max() <= 1 and ones.min() < 1  # brightened pixels are clipped, darkened ones are not


def test_affine_probability_leaves_the_rest_unchanged():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 28, 28)
    y = augment(x, rotation=7, translate=0.09, scale=0.09, p=0.5, padding="reflection", generator=g)
    same = torch.isclose(y, x, atol=1e-5).flatten(1).all(1)  # an identity grid samples each pixel back
    assert 0.4 < same.float().mean() < 0.6
    assert torch.equal(augment(x, rotation=7, p=0.0), x)


def test_classic_pipeline_refuses_what_it_cannot_do(tiny_mnist):
    """data=mnist_torchvision has no batched photometric transform: a brightness it would ignore is refused."""
    from tinynets.data.torchvision_dm import MNISTTorchvision

    dm = MNISTTorchvision(root=str(tiny_mnist), verify=False, augment={"rotation": 7.0, "brightness": 0.2})
    with pytest.raises(ConfigError, match=r"^data\.augment\.brightness=0\.2 is not allowed: data=mnist_torchvision"):
        dm.setup()
    ok = MNISTTorchvision(root=str(tiny_mnist), verify=False, augment={"rotation": 7.0, "p": 0.5, "brightness": 0.0})
    ok.setup()  # p is applied (RandomApply), zero brightness is the default
