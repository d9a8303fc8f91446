"""BatchNorm2d that is fast on CPU for channels-last activations with few channels.

torch's CPU BatchNorm kernels for channels-last tensors vectorise across channels; with fewer than
16 channels, or a bf16 input whose channel count is not a multiple of 16, they fall far behind
the NCHW kernels. Forward + backward of a 128-image batch on an AMD EPYC (Zen 5), torch against
this layer: 12x28x28 bf16 4.6 / 1.5 ms, fp32 7.4 / 4.8 ms; 8x28x28 bf16 3.2 / 1.0 ms; 20x12x12 bf16
0.95 / 0.50 ms; but 24x14x14 fp32 0.95 / 1.7 ms, so fp32 with 16 channels or more stays as it is.
There, this layer normalises an NCHW copy and hands back channels-last, with the gradients copied
the same way so that the backward pass, too, runs NCHW (a plain `.contiguous()` would pass the
channels-last gradient through and make the backward slower still). The maths is
`nn.BatchNorm2d`'s; elsewhere (GPU, NCHW input, compiling or tracing) it is `nn.BatchNorm2d`.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS_LAST = torch.channels_last


class _ToNCHW(torch.autograd.Function):
    """A contiguous (NCHW) copy whose gradient goes back channels-last."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=CHANNELS_LAST)


class _ToChannelsLast(torch.autograd.Function):
    """A channels-last copy whose gradient goes back NCHW."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=CHANNELS_LAST)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def slow_channels_last(x: torch.Tensor, channels: int) -> bool:
    """Whether torch's CPU BatchNorm would take its slow channels-last path on x."""
    few = channels < 16 or (channels % 16 != 0 and x.dtype in (torch.bfloat16, torch.float16))
    return (x.device.type == "cpu" and few and x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=CHANNELS_LAST)
            and not torch.compiler.is_compiling() and not torch.jit.is_tracing())


class BatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` run on an NCHW copy where torch's channels-last CPU kernel is slow (see the
    module docstring); the same parameters, buffers and state-dict keys. Kept over it: faster on CPU
    (`make bench`'s nn.BatchNorm2d option)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if slow_channels_last(x, self.num_features):
            return _ToChannelsLast.apply(super().forward(_ToNCHW.apply(x)))
        return super().forward(x)
