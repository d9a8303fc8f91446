"""The 2-2-2 sigmoid network of the backprop sheet, in float64 torch: the forward pass, the
gradients derived by hand with the chain rule, and the two independent checks of them
(autograd and central finite differences).

    h1 = w1*i1 + w2*i2 + b1          h2 = w3*i1 + w4*i2 + b1
    a_h1 = sigmoid(h1)               a_h2 = sigmoid(h2)
    o1 = w5*a_h1 + w6*a_h2 + b2      o2 = w7*a_h1 + w8*a_h2 + b2
    a_o1 = sigmoid(o1)               a_o2 = sigmoid(o2)
    E1 = 1/2 (t1 - a_o1)^2           E2 = 1/2 (t2 - a_o2)^2          E_total = E1 + E2

The biases b1 (hidden) and b2 (output) are fixed constants (0 unless a preset sets them).
Every function takes w as a tensor whose first dimension holds w1..w8 (and i, t with i1, i2 /
t1, t2 first), so the same code runs on one sheet or on a batch of random draws."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

WEIGHTS = tuple(f"w{k}" for k in range(1, 9))
GRADS = tuple(f"dE_dw{k}" for k in range(1, 9))
FORWARD = ("h1", "h2", "a_h1", "a_h2", "o1", "o2", "a_o1", "a_o2", "E1", "E2", "E_total")


class GradientMismatch(RuntimeError):
    """The hand-derived gradients disagree with autograd: the derivation (or its code) is wrong."""


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), written as the sheet writes it (=1/(1+EXP(-x)))."""
    return 1 / (1 + torch.exp(-x))


@dataclass(frozen=True)
class Forward:
    """Every intermediate value of one forward pass, named as in the sheet."""

    h1: Tensor
    h2: Tensor
    a_h1: Tensor
    a_h2: Tensor
    o1: Tensor
    o2: Tensor
    a_o1: Tensor
    a_o2: Tensor
    E1: Tensor
    E2: Tensor
    E_total: Tensor

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def forward(w: Tensor, i: Tensor, t: Tensor, b1: float | Tensor = 0.0, b2: float | Tensor = 0.0) -> Forward:
    w1, w2, w3, w4, w5, w6, w7, w8 = w
    i1, i2 = i
    t1, t2 = t
    h1 = w1 * i1 + w2 * i2 + b1
    h2 = w3 * i1 + w4 * i2 + b1
    a_h1 = sigmoid(h1)
    a_h2 = sigmoid(h2)
    o1 = w5 * a_h1 + w6 * a_h2 + b2
    o2 = w7 * a_h1 + w8 * a_h2 + b2
    a_o1 = sigmoid(o1)
    a_o2 = sigmoid(o2)
    E1 = 0.5 * (t1 - a_o1) ** 2
    E2 = 0.5 * (t2 - a_o2) ** 2
    return Forward(h1, h2, a_h1, a_h2, o1, o2, a_o1, a_o2, E1, E2, E1 + E2)


def hand_gradients(w: Tensor, i: Tensor, t: Tensor, f: Forward) -> Tensor:
    """dE_total/dw1..dw8 by the chain rule, term by term as derived in
    experiments/backprop_sheet/README.md. All of them use the weights *before* the update
    (w5..w8 in the hidden terms are the old ones): the eight updates are simultaneous."""
    w1, w2, w3, w4, w5, w6, w7, w8 = w
    i1, i2 = i
    t1, t2 = t

    # Output layer. E_total = E1 + E2, and E2 does not depend on o1 (nor E1 on o2).
    dE1_da_o1 = f.a_o1 - t1              # d/da_o1 of 1/2 (t1 - a_o1)^2
    dE2_da_o2 = f.a_o2 - t2
    da_o1_do1 = f.a_o1 * (1 - f.a_o1)    # sigmoid'(o1) = sigmoid(o1) (1 - sigmoid(o1))
    da_o2_do2 = f.a_o2 * (1 - f.a_o2)
    delta_o1 = dE1_da_o1 * da_o1_do1     # dE_total/do1
    delta_o2 = dE2_da_o2 * da_o2_do2     # dE_total/do2

    # o1 = w5*a_h1 + w6*a_h2 + b2 and o2 = w7*a_h1 + w8*a_h2 + b2
    dE_dw5 = delta_o1 * f.a_h1           # do1/dw5 = a_h1
    dE_dw6 = delta_o1 * f.a_h2           # do1/dw6 = a_h2
    dE_dw7 = delta_o2 * f.a_h1           # do2/dw7 = a_h1
    dE_dw8 = delta_o2 * f.a_h2           # do2/dw8 = a_h2

    # Hidden layer. a_h1 reaches E_total along two paths: through w5 into o1 and through
    # w7 into o2 (a_h2 through w6 and w8); the chain rule adds the paths.
    dE_da_h1 = delta_o1 * w5 + delta_o2 * w7
    dE_da_h2 = delta_o1 * w6 + delta_o2 * w8
    da_h1_dh1 = f.a_h1 * (1 - f.a_h1)    # sigmoid'(h1)
    da_h2_dh2 = f.a_h2 * (1 - f.a_h2)    # sigmoid'(h2): a_h2 here, not a_h1
    delta_h1 = dE_da_h1 * da_h1_dh1      # dE_total/dh1
    delta_h2 = dE_da_h2 * da_h2_dh2      # dE_total/dh2

    # h1 = w1*i1 + w2*i2 + b1 and h2 = w3*i1 + w4*i2 + b1
    dE_dw1 = delta_h1 * i1               # dh1/dw1 = i1
    dE_dw2 = delta_h1 * i2               # dh1/dw2 = i2
    dE_dw3 = delta_h2 * i1               # dh2/dw3 = i1
    dE_dw4 = delta_h2 * i2               # dh2/dw4 = i2

    return torch.stack([dE_dw1, dE_dw2, dE_dw3, dE_dw4, dE_dw5, dE_dw6, dE_dw7, dE_dw8])


def autograd_gradients(w: Tensor, i: Tensor, t: Tensor, b1: float | Tensor = 0.0,
                       b2: float | Tensor = 0.0) -> Tensor:
    """dE_total/dw by torch.autograd (summed over a batch of independent draws, which leaves
    each draw's gradient unchanged)."""
    with torch.enable_grad():
        wg = w.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(forward(wg, i, t, b1, b2).E_total.sum(), wg)
    return grad


def finite_difference_gradients(w: Tensor, i: Tensor, t: Tensor, b1: float | Tensor = 0.0,
                                b2: float | Tensor = 0.0, step: float = 1e-6) -> Tensor:
    """Central differences (E(w + s e_k) - E(w - s e_k)) / 2s: no derivative used at all."""
    grads = []
    for k in range(8):
        e = torch.zeros_like(w)
        e[k] = step
        up = forward(w + e, i, t, b1, b2).E_total
        down = forward(w - e, i, t, b1, b2).E_total
        grads.append((up - down) / (2 * step))
    return torch.stack(grads)


def check_against_autograd(hand: Tensor, auto: Tensor, atol: float, iteration: int | None = None) -> None:
    """Raise GradientMismatch naming every weight whose hand gradient is off by more than atol."""
    diff = (hand - auto).abs()
    if bool((diff <= atol).all()):
        return
    where = "" if iteration is None else f" at iteration {iteration}"
    rows = [f"  {g}: hand {float(h):+.17g}  autograd {float(a):+.17g}  |diff| {float(d):.3g}"
            for g, h, a, d in zip(GRADS, hand, auto, diff) if float(d) > atol]
    raise GradientMismatch(
        f"hand-derived gradients disagree with autograd{where} (tolerance {atol:g}):\n" + "\n".join(rows))
