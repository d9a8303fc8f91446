"""Published small nets that are not write-ups of ../shared/seeds/, built exactly as published.

`plain_3762` is the public anchor of the frontier: 3,762 params, 99.52% on the MNIST test set on its
final epoch in one run (adilsammar/woolly-of-cv, assets/mnist/notebook/MNIST_ALBUMENTATION_3762_99.52.ipynb,
its `mnist/model.py` with `Net(norm='bn')`). Its recipe is `experiment=plain_3762_published`.
"""

from __future__ import annotations

from torch import nn

from tinynets.models.blocks import Net, conv_block
from tinynets.models.dropout import Dropout


def plain_3762(dropout: float = 0.01) -> Net:
    """Three 3x3 convs (padding 1, with bias) at each of 28, 14 and 7 px with 4, 8 and 8 channels,
    each conv -> BN -> ReLU; max-pool and Dropout after the first two blocks; GAP -> 1x1 conv 8->10
    (with bias). Xavier-uniform conv weights, zero biases, as published. 3,762 params."""
    b = dict(padding=1, bias=True, bn_first=True)
    net = Net(
        c1=conv_block(1, 4, **b),  # 4x28x28       36 + 4 + 8
        c2=conv_block(4, 4, **b),  # 4x28x28      144 + 4 + 8
        c3=conv_block(4, 4, **b),  # 4x28x28      144 + 4 + 8
        pool1=nn.MaxPool2d(2),  # 4x14x14
        drop1=Dropout(dropout),
        c4=conv_block(4, 8, **b),  # 8x14x14      288 + 8 + 16
        c5=conv_block(8, 8, **b),  # 8x14x14      576 + 8 + 16
        c6=conv_block(8, 8, **b),  # 8x14x14      576 + 8 + 16
        pool2=nn.MaxPool2d(2),  # 8x7x7
        drop2=Dropout(dropout),
        c7=conv_block(8, 8, **b),  # 8x7x7        576 + 8 + 16
        c8=conv_block(8, 8, **b),  # 8x7x7        576 + 8 + 16
        c9=conv_block(8, 8, **b),  # 8x7x7        576 + 8 + 16
        gap=nn.AdaptiveAvgPool2d(1),  # 8x1x1
        head=conv_block(8, 10, k=1, bias=True, relu=False, bn=False),  # 10x1x1   80 + 10
        flat=nn.Flatten(),
    )
    for m in net.modules():  # the published initialize_weights (BN keeps torch's 1 / 0)
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net
