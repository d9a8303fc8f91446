"""BatchNorm2d that is fast on CPU for bf16 channels-last activations with few channels.

torch's CPU BatchNorm kernels for channels-last tensors vectorise across channels; in bf16 with
fewer than 16 channels they fall far behind the NCHW kernels. There, this layer normalises an
NCHW copy and hands back channels-last, with the gradients copied the same way so that the
backward pass, too, runs NCHW (a plain `.contiguous()` would pass the channels-last gradient
through and make the backward slower still). Elsewhere (fp32, 16 channels or more) the copies cost
more than they save, so there (and on GPU, with NCHW input, compiling or tracing) it is
`nn.BatchNorm2d`; what it gains is measured by `make bench` (docs/speed.md). The maths is
`nn.BatchNorm2d`'s.
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
    return (x.device.type == "cpu" and channels < 16 and x.dtype in (torch.bfloat16, torch.float16)
            and x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=CHANNELS_LAST)
            and not torch.compiler.is_compiling() and not torch.jit.is_tracing())


class BatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` run on an NCHW copy where torch's channels-last CPU kernel is slow (see the
    module docstring); the same parameters, buffers and state-dict keys. Kept over it: faster on CPU
    in bf16 (`make bench`'s `bf16-mixed, nn.BatchNorm2d` option against its `bf16-mixed`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if slow_channels_last(x, self.num_features):
            return _ToChannelsLast.apply(super().forward(_ToNCHW.apply(x)))
        return super().forward(x)
