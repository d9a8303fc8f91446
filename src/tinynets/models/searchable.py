"""`model=searchable` and `model=searchable_sep`: the parametric CNNs the architecture search explores.

Three blocks of 3x3 convs (padding 1: 28 -> 28, then 14, then 7) built with the same
`conv_block` as the zoo; between blocks a 2x2 max-pool and, optionally, a 1x1 transition
conv that changes the channel count (without it, the first conv of the next block does);
then global average pooling and a head: a 1x1 conv to 10 channels (`gap_conv`) or a Linear
layer (`gap_fc`). Its parameter count is exact before any training: build it and count
(`searchable_params`), which costs milliseconds.

    python -m tinynets.models.summary model=searchable model.net.c1=8 model.net.n1=1 model.net.head=gap_fc

`searchable_sep` is the family of `sep` (tinynets.models.zoo): two unpadded 3x3 convs (c1, c2
channels), a max-pool, `blocks` depthwise-separable blocks of `width` channels, GAP -> 1x1 conv.
Its defaults are `model=sep`; `sep_narrow` and `sep_wide` are its widths 20 and 28 (tinynets.models.zoo).
"""

from __future__ import annotations

from torch import nn

from tinynets.errors import ConfigError
from tinynets.models.blocks import Net, conv_block, separable

HEADS = ("gap_conv", "gap_fc")


def _check_counts(**counts) -> None:
    """Channel and conv counts must be integers >= 1 (one line naming the key otherwise)."""
    for name, v in counts.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"model.net.{name}", v, "must be an integer >= 1")


def searchable(
    c1: int = 8,
    c2: int = 16,
    c3: int = 16,
    n1: int = 2,
    n2: int = 2,
    n3: int = 2,
    transition: bool = True,
    head: str = "gap_conv",
    dropout: float = 0.05,
) -> Net:
    """Blocks of `n_i` 3x3 convs with `c_i` channels (i = 1, 2, 3); see the module docstring."""
    channels, convs = (c1, c2, c3), (n1, n2, n3)
    _check_counts(c1=c1, c2=c2, c3=c3, n1=n1, n2=n2, n3=n3)
    if head not in HEADS:
        raise ConfigError("model.net.head", head, f"must be one of {', '.join(HEADS)}")
    b = dict(padding=1, dropout=dropout)
    layers: dict[str, nn.Module] = {}
    c_in = 1
    for i, (c, n) in enumerate(zip(channels, convs), start=1):
        if i > 1:
            layers[f"pool{i - 1}"] = nn.MaxPool2d(2)  # 28 -> 14 -> 7
            if transition:
                layers[f"t{i - 1}"] = conv_block(c_in, c, k=1, relu=False, bn=False)
                c_in = c
        for j in range(1, n + 1):
            layers[f"b{i}c{j}"] = conv_block(c_in, c, **b)
            c_in = c
    layers["gap"] = nn.AvgPool2d(7)  # 7x7 -> 1x1: global average pooling
    if head == "gap_conv":
        layers["head"] = conv_block(c_in, 10, k=1, relu=False, bn=False)
        layers["flat"] = nn.Flatten()
    else:
        layers["flat"] = nn.Flatten()
        layers["fc"] = nn.Linear(c_in, 10)
    return Net(**layers)


def searchable_sep(c1: int = 8, c2: int = 16, width: int = 24, blocks: int = 4, dropout: float = 0.05) -> Net:
    """sep's layout with its widths and depth as knobs; see the module docstring."""
    _check_counts(c1=c1, c2=c2, width=width)
    if not isinstance(blocks, int) or isinstance(blocks, bool) or not 1 <= blocks <= 5:
        raise ConfigError("model.net.blocks", blocks, "must be an integer from 1 to 5 "
                          "(each block takes 2 pixels off the 12x12 map)")
    layers: dict[str, nn.Module] = dict(
        c1=conv_block(1, c1, dropout=dropout),  # c1 x 26x26     9*c1 + 2*c1
        c2=conv_block(c1, c2, dropout=dropout),  # c2 x 24x24   9*c1*c2 + 2*c2
        pool1=nn.MaxPool2d(2),  # c2 x 12x12
    )
    c_in = c2
    for i in range(3, 3 + blocks):  # s3, s4, ...: w x 10x10, 8x8, 6x6, ...   9*c_in + c_in*w + 2w
        layers.update({f"s{i}_{k}": m for k, m in separable(c_in, width, dropout).items()})
        c_in = width
    layers["gap"] = nn.AdaptiveAvgPool2d(1)  # w x 1x1
    layers["head"] = conv_block(width, 10, k=1, relu=False, bn=False)  # 10x1x1  10w
    layers["flat"] = nn.Flatten()
    return Net(**layers)


def searchable_params(**knobs) -> int:
    """The exact parameter count of `searchable(**knobs)`, with no training (and no data)."""
    return searchable(**knobs).num_params
