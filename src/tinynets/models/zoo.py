"""The five reference networks of ../shared/seeds/, layer for layer.

Each function reads like its write-up's summary table: one line a layer, with the output
shape and the parameter count the write-up prints. `dropout` comes from the `dropout`
config group (`dropout=none` builds the same net without Dropout layers).
"""

from __future__ import annotations

from torch import nn

from tinynets.models.blocks import Net, bn_dropout, conv_block
from tinynets.models.searchable import searchable_sep


def gap_fc(dropout: float = 0.05) -> Net:
    """Write-up 000: three conv blocks, GAP (AvgPool 6) -> Linear 25->10. 19,629 params.

    Convs carry a bias; Dropout2d after every conv but the last, as published."""
    b = dict(bias=True, dropout=dropout, dropout2d=True)
    return Net(
        c1=conv_block(1, 16, padding=1, **b),  # 16x28x28    160 + 32
        c2=conv_block(16, 16, **b),  # 16x26x26  2,320 + 32
        c3=conv_block(16, 32, **b),  # 32x24x24  4,640 + 64
        pool1=nn.MaxPool2d(2),  # 32x12x12
        c4=conv_block(32, 16, padding=1, **b),  # 16x12x12  4,624 + 32
        c5=conv_block(16, 20, padding=1, **b),  # 20x12x12  2,900 + 40
        pool2=nn.MaxPool2d(2),  # 20x6x6
        c6=conv_block(20, 25, padding=1, bias=True, relu=False, bn=False),  # 25x6x6  4,525
        gap=nn.AvgPool2d(6),  # 25x1x1
        flat=nn.Flatten(),
        fc=nn.Linear(25, 10),  # 10           260
    )


def gap_conv(dropout: float = 0.05) -> Net:
    """Write-up 001: no FC; GAP (AvgPool 7) -> 1x1 conv 32->10. 10,066 params.

    The write-up's table prints 36 params for the 1x1 conv 16->8; with its bias it is 136."""
    b = dict(bias=True, dropout=dropout)
    return Net(
        c1=conv_block(1, 8, **b),  # 8x26x26       80 + 16
        c2=conv_block(8, 16, **b),  # 16x24x24  1,168 + 32
        c3=conv_block(16, 16, **b),  # 16x22x22  2,320 + 32
        pool1=nn.MaxPool2d(2),  # 16x11x11
        bn1=bn_dropout(16, dropout),  # 16x11x11          32
        t1=conv_block(16, 8, k=1, **b),  # 8x11x11     136 + 16
        c4=conv_block(8, 16, **b),  # 16x9x9    1,168 + 32
        c5=conv_block(16, 32, **b),  # 32x7x7    4,640 + 64
        gap=nn.AvgPool2d(7),  # 32x1x1
        head=conv_block(32, 10, k=1, bias=True, relu=False, bn=False),  # 10x1x1  330
        flat=nn.Flatten(),
    )


def transition(dropout: float = 0.05) -> Net:
    """Write-up 002: max-pool + 1x1 transitions, 1x1 conv 32->10 -> GAP. 19,944 params, no bias."""
    b = dict(padding=1, dropout=dropout)
    return Net(
        c1=conv_block(1, 8, **b),  # 8x28x28       72 + 16
        c2=conv_block(8, 8, **b),  # 8x28x28      576 + 16
        pool1=nn.MaxPool2d(2),  # 8x14x14
        t1=conv_block(8, 8, k=1, relu=False, bn=False),  # 8x14x14   64
        c3=conv_block(8, 14, **b),  # 14x14x14  1,008 + 28
        c4=conv_block(14, 14, **b),  # 14x14x14  1,764 + 28
        pool2=nn.MaxPool2d(2),  # 14x7x7
        t2=conv_block(14, 14, k=1, relu=False, bn=False),  # 14x7x7  196
        c5=conv_block(14, 24, **b),  # 24x7x7    3,024 + 48
        c6=conv_block(24, 24, **b),  # 24x7x7    5,184 + 48
        pool3=nn.MaxPool2d(2),  # 24x3x3
        t3=conv_block(24, 24, k=1, relu=False, bn=False),  # 24x3x3  576
        c7=conv_block(24, 32, **b),  # 32x3x3    6,912 + 64
        head=conv_block(32, 10, k=1, relu=False, bn=False),  # 10x3x3  320
        gap=nn.AvgPool2d(3),  # 10x1x1
        flat=nn.Flatten(),
    )


def aggregator(dropout: float = 0.05) -> Net:
    """Write-up 003: 1x1 "aggregators" after each max-pool, convs with bias. 16,926 params.

    The write-up's table stops after Conv2d-19/ReLU-20 (9,266 params published). We complete
    it with the pattern its first two blocks follow: BN, max-pool, a 1x1 aggregator with
    Dropout, two 3x3 convs (16 -> 30), then GAP and a 1x1 conv 30->10. RF at the GAP: 34."""
    b = dict(padding=1, bias=True)
    return Net(
        # -- published (write-up 003's table, layers 1-20) --
        c1=conv_block(1, 8, dropout=dropout, **b),  # 8x28x28       80 + 16
        c2=conv_block(8, 8, **b),  # 8x28x28      584 + 16
        c3=conv_block(8, 20, **b),  # 20x28x28  1,460 + 40
        pool1=nn.MaxPool2d(2),  # 20x14x14
        a1=conv_block(20, 16, k=1, bias=True, dropout=dropout),  # 16x14x14  336 + 32
        c4=conv_block(16, 16, **b),  # 16x14x14  2,320 + 32
        c5=conv_block(16, 30, **b),  # 30x14x14  4,350 (+ 60 for its BN: ours)
        # -- completed by us, repeating the pattern above --
        pool2=nn.MaxPool2d(2),  # 30x7x7
        a2=conv_block(30, 16, k=1, bias=True, dropout=dropout),  # 16x7x7  496 + 32
        c6=conv_block(16, 16, **b),  # 16x7x7    2,320 + 32
        c7=conv_block(16, 30, **b),  # 30x7x7    4,350 + 60
        gap=nn.AvgPool2d(7),  # 30x1x1
        head=conv_block(30, 10, k=1, bias=True, relu=False, bn=False),  # 10x1x1  310
        flat=nn.Flatten(),
    )


def deep_narrow(dropout: float = 0.069) -> Net:
    """Write-up 004: 16-channel convs down to 6x6, GAP -> 1x1 conv 16->10. 12,088 params, no bias."""
    b = dict(dropout=dropout)
    return Net(
        c1=conv_block(1, 8, padding=1, **b),  # 8x28x28       72 + 16
        c2=conv_block(8, 16, padding=1, **b),  # 16x28x28  1,152 + 32
        c3=conv_block(16, 16, padding=1, **b),  # 16x28x28  2,304 + 32
        pool1=nn.MaxPool2d(2),  # 16x14x14
        t1=conv_block(16, 8, k=1, relu=False, bn=False),  # 8x14x14   128
        c4=conv_block(8, 16, **b),  # 16x12x12  1,152 + 32
        c5=conv_block(16, 16, **b),  # 16x10x10  2,304 + 32
        c6=conv_block(16, 16, **b),  # 16x8x8    2,304 + 32
        c7=conv_block(16, 16, **b),  # 16x6x6    2,304 + 32
        gap=nn.AvgPool2d(6),  # 16x1x1
        head=conv_block(16, 10, k=1, relu=False, bn=False),  # 10x1x1  160
        flat=nn.Flatten(),
    )


# ---------------------------------------------------------------------------- ours
def _squeeze_net(c1: int, c2: int, c3: int, squeeze: int, c4: int, c5: int, c6: int, dropout: float) -> Net:
    """Our layout: three 3x3 convs (RF 7), max-pool, a 1x1 squeeze, three 3x3 convs (the last
    padded, so the GAP sees 7x7: RF 32), GAP -> 1x1 conv to 10. No bias (BN follows)."""
    b = dict(dropout=dropout)
    return Net(
        c1=conv_block(1, c1, **b),  # c1 x 26x26
        c2=conv_block(c1, c2, **b),  # c2 x 24x24
        c3=conv_block(c2, c3, **b),  # c3 x 22x22
        pool1=nn.MaxPool2d(2),  # c3 x 11x11
        t1=conv_block(c3, squeeze, k=1, relu=False, bn=False),  # squeeze x 11x11
        c4=conv_block(squeeze, c4, **b),  # c4 x 9x9
        c5=conv_block(c4, c5, **b),  # c5 x 7x7
        c6=conv_block(c5, c6, padding=1, **b),  # c6 x 7x7
        gap=nn.AdaptiveAvgPool2d(1),  # c6 x 1x1
        head=conv_block(c6, 10, k=1, relu=False, bn=False),  # 10 x 1x1
        flat=nn.Flatten(),
    )


def slim(dropout: float = 0.05) -> Net:
    """Ours, under 8k: 7,890 params. Widths 8-12-15, squeeze 8, 12-16-16. Chosen over a
    7,264-param variant (8-12-14, 8, 12-14-16) on a 5,000-image holdout."""
    return _squeeze_net(8, 12, 15, 8, 12, 16, 16, dropout)


def micro(dropout: float = 0.05) -> Net:
    """Ours, under 6k: 5,552 params. slim's layout with widths 8-10-12, squeeze 8, 10-12-14."""
    return _squeeze_net(8, 10, 12, 8, 10, 12, 14, dropout)


def nano(dropout: float = 0.05) -> Net:
    """Ours, under 5k: 4,948 params. slim's layout with widths 8-8-12, squeeze 8, 10-12-12."""
    return _squeeze_net(8, 8, 12, 8, 10, 12, 12, dropout)


def sep(dropout: float = 0.05) -> Net:
    """Ours, under 5k: 4,608 params. Our separable layout (`searchable_sep`'s defaults): two 3x3
    convs (8, 16 channels), max-pool, four depthwise-separable blocks of 24 channels (RF 22 at the
    last, 4x4), GAP -> 1x1 conv to 10. No bias."""
    return searchable_sep(width=24, dropout=dropout)


def sep_narrow(dropout: float = 0.05) -> Net:
    """Ours, under 4k: 3,836 params. sep's layout, 20 channels."""
    return searchable_sep(width=20, dropout=dropout)


def sep_wide(dropout: float = 0.05) -> Net:
    """Ours, under 6k: 5,476 params. sep's layout, 28 channels."""
    return searchable_sep(width=28, dropout=dropout)


def fast(dropout: float = 0.0) -> Net:
    """Ours, for time to 99.4% on a CPU (`experiment=fast`): one 3x3 conv at 28 px (a CPU pays per
    pixel there; 16 channels, where torch's channels-last BN and max-pool are faster than at 12),
    a pair at 14 and at 7 px holding the parameters, GAP -> 1x1 conv 32->10. 18,544 params, no
    bias; BN; no Dropout by default (its recipe is four epochs). RF at the GAP: 30."""
    b = dict(padding=1, dropout=dropout)
    return Net(
        c1=conv_block(1, 16, **b),  # 16x28x28     144 + 32
        pool1=nn.MaxPool2d(2),  # 16x14x14
        c2=conv_block(16, 16, **b),  # 16x14x14  2,304 + 32
        c3=conv_block(16, 24, **b),  # 24x14x14  3,456 + 48
        pool2=nn.MaxPool2d(2),  # 24x7x7
        c4=conv_block(24, 24, **b),  # 24x7x7    5,184 + 48
        c5=conv_block(24, 32, dropout=dropout),  # 32x5x5    6,912 + 64
        gap=nn.AdaptiveAvgPool2d(1),  # 32x1x1
        head=conv_block(32, 10, k=1, relu=False, bn=False),  # 10x1x1  320
        flat=nn.Flatten(),
    )
