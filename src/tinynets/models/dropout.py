"""Element-wise dropout that is fast on CPU.

`nn.Dropout` on CPU draws one double-precision Bernoulli sample per element, serially
(`bernoulli_`): on deep_narrow a large share of the training step when profiled (what this layer
gains: `make bench`'s nn.Dropout option, docs/speed.md). The dropped positions of
an i.i.d. Bernoulli(p) mask are a Bernoulli process, so the gaps between them are i.i.d.
Geometric(p): drawing only the ~p*n gaps (inverse CDF of float32 uniforms), a cumulative sum and
one `index_fill_` gives a mask with the same distribution for a fraction of the random draws.
Same maths as `nn.Dropout` (inverted dropout, kept elements scaled by 1/(1-p), identity in
eval); another random stream. Elsewhere (GPU, torch.compile, large p, other layouts) it is
`nn.Dropout`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GEOMETRIC_MAX_P = 0.25  # above this, drawing the gaps saves little: use bernoulli_


def geometric_dropout_mask(n: int, p: float, dtype: torch.dtype = torch.float32,
                           generator: torch.Generator | None = None, chunk: int | None = None) -> torch.Tensor:
    """A flat mask of n values: 0 with probability p, else 1/(1-p), independently per element.

    Gaps between dropped positions are Geometric(p) on {1, 2, ...}: G = floor(log(1-U)/log(1-p)) + 1
    with U uniform in [0, 1) (float32: 2^-24 resolution, as `torch.rand_like(x) < p` has)."""
    mask = torch.full((n,), 1.0 / (1.0 - p), dtype=dtype)
    if n == 0:
        return mask
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    chunk = chunk or int(mean + 6 * sd) + 16  # gaps to pass n but with probability < 1e-9; else more
    log_q = math.log1p(-p)
    last = -1  # position of the previous dropped element
    while True:
        u = torch.rand(chunk, generator=generator)
        gaps = torch.log1p(u.neg_()).div_(log_q).floor_().add_(1).to(torch.int64)
        pos = gaps.cumsum_(0).add_(last)
        inside = int(torch.searchsorted(pos, n))
        mask.index_fill_(0, pos[:inside], 0.0)
        if inside < chunk:
            return mask
        last = int(pos[-1])


class Dropout(nn.Dropout):
    """`nn.Dropout` whose CPU training-mode mask is drawn as a Bernoulli process (see the module
    docstring); otherwise exactly `nn.Dropout`. Kept over it: faster on CPU (`make bench`'s
    nn.Dropout option), where torch draws one double-precision sample per element."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.training or self.p == 0 or self.p > GEOMETRIC_MAX_P or self.inplace
                or x.device.type != "cpu" or torch.compiler.is_compiling()):
            return super().forward(x)
        if x.is_contiguous():
            mask = geometric_dropout_mask(x.numel(), self.p, x.dtype).view(x.shape)
        elif x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            n, c, h, w = x.shape
            mask = geometric_dropout_mask(x.numel(), self.p, x.dtype).view(n, h, w, c).permute(0, 3, 1, 2)
        else:
            return F.dropout(x, self.p, True)
        return x * mask

