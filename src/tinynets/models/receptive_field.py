"""Receptive-field arithmetic for a sequential CNN: per layer, the jump (distance in input
pixels between neighbouring outputs) and the receptive field (input pixels one output sees).

    jump_out = jump_in * stride
    rf_out   = rf_in + (kernel - 1) * dilation * jump_in
    size_out = (size_in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1

The spatial size is tracked too, so that a global (adaptive) pooling layer counts as the
kernel it really is: the whole remaining feature map.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class RF:
    jump: int = 1
    rf: int = 1
    size: int = 28

    def through(self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> RF:
        size = (self.size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        return RF(self.jump * stride, self.rf + (kernel - 1) * dilation * self.jump, size)


def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def step(state: RF, layer: nn.Module) -> RF:
    """The RF after `layer`; layers that do not look at neighbours leave it unchanged."""
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k = _first(layer.kernel_size)
        return state.through(k, _first(layer.stride or k), _first(layer.padding),
                             _first(getattr(layer, "dilation", 1)))
    if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and _first(layer.output_size) == 1:
        return state.through(state.size, state.size)  # global pooling: one window over everything
    return state


def leaf_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules in forward order (the nets are nested nn.Sequentials)."""
    return [(name, m) for name, m in net.named_modules() if not list(m.children())]


def receptive_fields(net: nn.Module, size: int = 28) -> list[tuple[str, RF]]:
    state, out = RF(size=size), []
    for name, layer in leaf_layers(net):
        state = step(state, layer)
        out.append((name, state))
    return out
