"""tinynets.models.dropout: the CPU Dropout's mask is i.i.d. Bernoulli, the layer is nn.Dropout
in every other respect, and the models use it."""

from __future__ import annotations

import pytest
import torch

from tinynets.models.dropout import Dropout, geometric_dropout_mask


@pytest.mark.parametrize(("p", "chunk"), [(0.069, None), (0.2, None), (0.05, 7)], ids=["p0.069", "p0.2", "refill"])
def test_geometric_mask_is_iid_bernoulli(p, chunk):
    """0 with probability p, 1/(1-p) otherwise, independent of the neighbours (chunk=7 forces
    the refill path: gaps drawn seven at a time)."""
    torch.manual_seed(0)
    n = 200_000 if chunk is None else 20_000
    m = geometric_dropout_mask(n, p, chunk=chunk)
    dropped = (m == 0).double()
    values = torch.unique(m).tolist()
    assert values[0] == 0.0 and values[1:] == [pytest.approx(1 / (1 - p))]
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(dropped.mean().item() - p) < 5 * sd
    assert abs(m.double().mean().item() - 1) < 5 * sd / (1 - p)  # inverted dropout keeps the mean
    pairs = (dropped[1:] * dropped[:-1]).mean().item()  # P(two neighbours dropped) = p^2
    assert abs(pairs - p * p) < 5 * (p * p * (1 - p * p) / n) ** 0.5
    # dropped positions spread over the whole range, not bunched at the start
    assert abs(dropped[: n // 2].mean().item() - dropped[n // 2:].mean().item()) < 10 * sd


def test_dropout_layer_matches_nn_dropout_semantics():
    torch.manual_seed(0)
    layer = Dropout(0.1)
    x = torch.randn(64, 16, 14, 14).to(memory_format=torch.channels_last).requires_grad_()
    y = layer(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    ratio = (y / x).detach()
    assert torch.all((ratio.abs() < 1e-6) | ((ratio - 1 / 0.9).abs() < 1e-5))
    y.sum().backward()
    assert torch.allclose(x.grad, ratio, atol=1e-5)  # gradient = the mask, as nn.Dropout's
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    assert torch.equal(a, layer(x))  # seeded: reproducible
    layer.eval()
    assert torch.equal(layer(x), x)
    assert isinstance(layer, torch.nn.Dropout)  # the model flags and summaries see a Dropout
    nc = torch.randn(8, 8)[:, ::2]  # neither layout: nn.Dropout's own path
    out = Dropout(0.5).train()(nc)
    assert set(torch.unique((out / nc).round(decimals=4)).tolist()) <= {0.0, 2.0}


def test_models_use_the_fast_dropout():
    from tinynets.models import zoo

    net = zoo.deep_narrow()
    assert any(type(m) is Dropout for m in net.modules())
    assert not any(type(m) is torch.nn.Dropout for m in net.modules())
