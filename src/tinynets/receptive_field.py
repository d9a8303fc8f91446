"""Receptive-field arithmetic for a sequential CNN: per layer, the jump (distance in input
pixels between neighbouring outputs) and the receptive field (input pixels one output sees).

    jump_out = jump_in * stride
    rf_out   = rf_in + (kernel - 1) * dilation * jump_in
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class RF:
    jump: int = 1
    rf: int = 1

    def through(self, kernel: int, stride: int = 1, dilation: int = 1) -> RF:
        return RF(self.jump * stride, self.rf + (kernel - 1) * dilation * self.jump)


def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def step(state: RF, layer: nn.Module) -> RF:
    """The RF after `layer`; layers that do not look at neighbours leave it unchanged."""
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return state.through(_first(layer.kernel_size), _first(layer.stride or layer.kernel_size),
                             _first(getattr(layer, "dilation", 1)))
    return state


def leaf_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules in forward order (the nets are nested nn.Sequentials)."""
    return [(name, m) for name, m in net.named_modules() if not list(m.children())]


def receptive_fields(net: nn.Module) -> list[tuple[str, RF]]:
    state, out = RF(), []
    for name, layer in leaf_layers(net):
        state = step(state, layer)
        out.append((name, state))
    return out
