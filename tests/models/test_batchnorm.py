"""tinynets.models.batchnorm: the CPU BatchNorm2d is nn.BatchNorm2d's maths on every path, keeps
channels-last in and out (gradients too), and the models use it; `use_torch_layers` swaps it back."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinynets.models.batchnorm import BatchNorm2d, slow_channels_last
from tinynets.models.blocks import use_torch_layers
from tinynets.models.dropout import Dropout

CL = torch.channels_last


def _pair(c: int) -> tuple[nn.BatchNorm2d, BatchNorm2d]:
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(c)
    nn.init.normal_(ref.weight)
    nn.init.normal_(ref.bias)
    ours = BatchNorm2d(c)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize(("c", "layout", "dtype", "reroutes"), [
    (12, CL, torch.bfloat16, True), (8, CL, torch.bfloat16, True), (12, CL, torch.float32, False),
    (24, CL, torch.bfloat16, False), (16, CL, torch.bfloat16, False), (12, torch.contiguous_format, torch.bfloat16, False),
])
def test_same_maths_as_nn_batchnorm(c, layout, dtype, reroutes):
    """Forward, input and parameter gradients, running statistics and eval output match
    nn.BatchNorm2d's, and the layout of the output and of the input's gradient is the input's."""
    ref, ours = _pair(c)
    x = (torch.randn(6, c, 5, 5) * 3 + 1).to(dtype).contiguous(memory_format=layout)
    assert slow_channels_last(x, c) is reroutes
    g = torch.randn(6, c, 5, 5).to(dtype).contiguous(memory_format=layout)
    outs, grads = [], []
    for layer in (ref, ours):
        xi = x.clone().requires_grad_()
        seen = []
        inner = xi * 1  # not a leaf: its gradient arrives as the layer hands it back
        inner.register_hook(lambda grad: seen.append(grad.is_contiguous(memory_format=layout)))
        y = layer(inner)
        y.backward(g)
        assert y.is_contiguous(memory_format=layout) and seen == [True]
        outs.append(y.float())
        grads.append([xi.grad.float(), layer.weight.grad, layer.bias.grad])
    tol = dict(atol=2e-2, rtol=2e-2) if dtype == torch.bfloat16 else dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[1], outs[0], **tol)
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, **tol)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert ours.num_batches_tracked == ref.num_batches_tracked == 1
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x).float(), ref(x).float(), **tol)


def test_models_use_it_and_use_torch_layers_swaps_it_back_with_its_state():
    from tinynets.models import zoo

    net = zoo.deep_narrow()
    assert any(type(m) is BatchNorm2d for m in net.modules()) and any(type(m) is Dropout for m in net.modules())
    bn = next(m for m in net.modules() if type(m) is BatchNorm2d)
    bn.running_mean.fill_(0.5)
    net.eval()
    x = torch.randn(2, 1, 28, 28)
    before = net(x)
    swapped = use_torch_layers(zoo.deep_narrow(), BatchNorm2d)  # only BN: tinynets' Dropout stays
    assert not any(type(m) is BatchNorm2d for m in swapped.modules())
    assert any(type(m) is Dropout for m in swapped.modules())
    use_torch_layers(net)
    kinds = {type(m) for m in net.modules()}
    assert BatchNorm2d not in kinds and Dropout not in kinds and nn.BatchNorm2d in kinds and nn.Dropout in kinds
    assert not net.training  # the mode is kept
    assert torch.equal(net(x), before)  # the state (running statistics) is kept: same outputs
