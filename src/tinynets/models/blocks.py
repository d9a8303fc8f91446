"""The one conv-block builder every architecture is made of, and the `Net` container.

A block is the write-ups' order: conv -> ReLU -> BatchNorm -> Dropout, each part optional.
`Net` is an `nn.Sequential` whose layers are named, so a model file reads like its
write-up's summary table, and whose BN / Dropout / GAP / FC flags are read off its layers.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from tinynets.models.batchnorm import BatchNorm2d
from tinynets.models.dropout import Dropout


def conv_block(
    c_in: int,
    c_out: int,
    k: int = 3,
    *,
    padding: int = 0,
    bias: bool = False,
    relu: bool = True,
    bn: bool = True,
    dropout: float = 0.0,
    dropout2d: bool = False,
    groups: int = 1,
    bn_first: bool = False,
) -> nn.Sequential:
    """conv(k x k) -> ReLU -> BN -> Dropout; `relu`, `bn` and `dropout` (p=0) can be left out.
    `groups=c_in` makes the conv depthwise (one k x k filter per channel); `bn_first` puts BN
    before the ReLU (conv -> BN -> ReLU, the other common order)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(c_in, c_out, k, padding=padding, bias=bias, groups=groups)
    )
    if bn and bn_first:
        layers["bn"] = BatchNorm2d(c_out)
    if relu:
        layers["relu"] = nn.ReLU()
    if bn and not bn_first:
        layers["bn"] = BatchNorm2d(c_out)
    if dropout > 0:
        layers["drop"] = nn.Dropout2d(dropout) if dropout2d else Dropout(dropout)
    return nn.Sequential(layers)


def separable(c_in: int, c_out: int, dropout: float = 0.0) -> dict[str, nn.Module]:
    """A depthwise-separable block as two named layers: `dw`, a depthwise 3x3 conv (c_in filters
    of 9 weights), then `pw`, a 1x1 conv to c_out -> ReLU -> BN (-> Dropout)."""
    return dict(dw=conv_block(c_in, c_in, groups=c_in, relu=False, bn=False),
                pw=conv_block(c_in, c_out, k=1, dropout=dropout))


def bn_dropout(channels: int, dropout: float = 0.0) -> nn.Sequential:
    """A BatchNorm (+ Dropout) with no conv before it (write-up 001 puts one after a max-pool)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(bn=BatchNorm2d(channels))
    if dropout > 0:
        layers["drop"] = Dropout(dropout)
    return nn.Sequential(layers)


def use_torch_layers(net: nn.Module, *kinds: type[nn.Module]) -> nn.Module:
    """Swap tinynets' CPU-fast `Dropout` and `BatchNorm2d` (or only `kinds` of them) in `net` for
    torch's, in place, keeping their settings and state (what the write-ups ran; `make bench`
    measures both)."""
    for name, child in list(net.named_children()):
        if type(child) in (kinds or (Dropout, BatchNorm2d)):
            torch_layer = nn.Dropout(child.p, child.inplace) if type(child) is Dropout else nn.BatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            torch_layer.load_state_dict(child.state_dict())
            setattr(net, name, torch_layer.train(child.training))
        else:
            use_torch_layers(child, *kinds)
    return net


class Net(nn.Sequential):
    """A sequential CNN built from named layers: ``Net(c1=conv_block(...), pool1=nn.MaxPool2d(2), ...)``."""

    def __init__(self, **layers: nn.Module) -> None:
        super().__init__(OrderedDict(layers))

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def flags(self) -> dict[str, bool]:
        """Which of the assignment's ingredients this network uses, read off its layers."""
        mods = list(self.modules())
        return {
            "uses_bn": any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in mods),
            "uses_dropout": any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in mods),
            "uses_gap": any(isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)) for m in mods),
            "uses_fc": any(isinstance(m, nn.Linear) for m in mods),
        }
