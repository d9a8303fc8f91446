"""The backprop sheet's arithmetic: hand-derived gradients against autograd and central finite
differences, the published class values, Matt Mazur's first update, the presets."""

from __future__ import annotations

import pytest
import torch

from tinynets.backprop.tiny import (
    GRADS,
    GradientMismatch,
    autograd_gradients,
    check_against_autograd,
    finite_difference_gradients,
    forward,
    hand_gradients,
)

D = torch.float64
CLASS_W = [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=D)


@pytest.fixture(scope="module")
def draws():
    """250 random (weights, inputs, targets, biases) draws as one batch (last dimension)."""
    g = torch.Generator().manual_seed(2026)
    n = 250
    w = (torch.rand(8, n, generator=g, dtype=D) - 0.5) * 6      # [-3, 3]
    i = (torch.rand(2, n, generator=g, dtype=D) - 0.5) * 4      # [-2, 2]
    tg = torch.rand(2, n, generator=g, dtype=D) * 1.4 - 0.2     # [-0.2, 1.2]: some unreachable
    b1 = (torch.rand(n, generator=g, dtype=D) - 0.5) * 2
    b2 = (torch.rand(n, generator=g, dtype=D) - 0.5) * 2
    return w, i, tg, b1, b2


def test_hand_gradients_equal_autograd_and_finite_differences(draws):
    w, i, tg, b1, b2 = draws
    hand = hand_gradients(w, i, tg, forward(w, i, tg, b1, b2))
    auto = autograd_gradients(w, i, tg, b1, b2)
    fd = finite_difference_gradients(w, i, tg, b1, b2)
    assert hand.shape == auto.shape == fd.shape == (8, 250)
    # the draws exercise every gradient (nothing vanishes across the board)
    assert (hand.abs() > 1e-4).float().mean(dim=1).min() > 0.5
    assert (hand - auto).abs().max() <= 1e-12
    assert (hand - fd).abs().max() <= 1e-8
    # and one draw at a time gives the same numbers as the batch
    k = 17
    one = hand_gradients(w[:, k], i[:, k], tg[:, k], forward(w[:, k], i[:, k], tg[:, k], b1[k], b2[k]))
    assert torch.equal(one, hand[:, k])


def _slipped_course_sheet(w, i, tg, f):
    """The widely shared course sheet's slip: a_h1(1 - a_h1) in dE/dw3 and dE/dw4."""
    g = hand_gradients(w, i, tg, f).clone()
    w1, w2, w3, w4, w5, w6, w7, w8 = w
    delta_o1 = (f.a_o1 - tg[0]) * f.a_o1 * (1 - f.a_o1)
    delta_o2 = (f.a_o2 - tg[1]) * f.a_o2 * (1 - f.a_o2)
    wrong = (delta_o1 * w6 + delta_o2 * w8) * f.a_h1 * (1 - f.a_h1)
    g[2], g[3] = wrong * i[0], wrong * i[1]
    return g


def _swapped_writeup_001(w, i, tg, f):
    """Write-up 001's slip: dE/dw7 with a_h2 and dE/dw8 with a_h1."""
    g = hand_gradients(w, i, tg, f).clone()
    delta_o2 = (f.a_o2 - tg[1]) * f.a_o2 * (1 - f.a_o2)
    g[6], g[7] = delta_o2 * f.a_h2, delta_o2 * f.a_h1
    return g


@pytest.mark.parametrize("slip, wrong", [(_slipped_course_sheet, {"dE_dw3", "dE_dw4"}),
                                         (_swapped_writeup_001, {"dE_dw7", "dE_dw8"})])
def test_autograd_check_catches_the_published_slips(slip, wrong):
    w, i, tg = t(CLASS_W), t([0.05, 0.1]), t([0.01, 0.99])
    f = forward(w, i, tg)
    auto = autograd_gradients(w, i, tg)
    check_against_autograd(hand_gradients(w, i, tg, f), auto, 1e-12, iteration=0)  # correct: passes
    with pytest.raises(GradientMismatch) as e:
        check_against_autograd(slip(w, i, tg, f), auto, 1e-12, iteration=4)
    named = {g for g in GRADS if f"{g}:" in str(e.value)}
    assert named == wrong
    assert "at iteration 4" in str(e.value)


def test_class_values_targets_half():
    """The published class sheet (targets 0.5 / 0.5), iteration 0."""
    f = forward(t(CLASS_W), t([0.05, 0.1]), t([0.5, 0.5]))
    published = {"h1": 0.0275, "h2": 0.0425, "a_h1": 0.506874567, "a_h2": 0.510623401,
                 "a_o1": 0.606477732, "a_o2": 0.630480835, "E_total": 0.014181378}
    for name, value in published.items():
        assert float(getattr(f, name)) == pytest.approx(value, abs=1e-9), name


# Matt Mazur, "A Step by Step Backpropagation Example" (2015),
# https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/
MAZUR_FORWARD = {"h1": 0.3775, "a_h1": 0.593269992, "a_h2": 0.596884378, "o1": 1.105905967,
                 "a_o1": 0.75136507, "a_o2": 0.772928465, "E1": 0.274811083, "E2": 0.023560026,
                 "E_total": 0.298371109}
MAZUR_W_AFTER_ONE_UPDATE = [0.149780716, 0.19956143, 0.24975114, 0.29950229,
                            0.35891648, 0.408666186, 0.511301270, 0.561370121]


def test_mazur_forward_pass_and_first_update(make_cfg):
    cfg = make_cfg("experiment=backprop_sheet", "sheet=mazur")
    s = cfg.sheet
    w, i, tg = t(list(s.w)), t(list(s.inputs)), t(list(s.targets))
    assert (s.b1, s.b2, cfg.lr) == (0.35, 0.60, 0.5)
    f = forward(w, i, tg, s.b1, s.b2)
    for name, value in MAZUR_FORWARD.items():
        assert float(getattr(f, name)) == pytest.approx(value, abs=1e-8), name
    updated = w - cfg.lr * hand_gradients(w, i, tg, f)
    assert updated.tolist() == pytest.approx(MAZUR_W_AFTER_ONE_UPDATE, abs=1e-8)


@pytest.mark.parametrize("preset, w, targets, biases", [
    ("era", CLASS_W, [0.5, 0.5], (0.0, 0.0)),
    ("eva", CLASS_W, [0.01, 0.99], (0.0, 0.0)),
    ("eva6", [0.3, 0.5, -0.2, 0.7, 0.1, -0.6, 0.3, -0.9], [0.01, 0.99], (0.0, 0.0)),
    ("mazur", CLASS_W, [0.01, 0.99], (0.35, 0.60)),
])
def test_presets(make_cfg, preset, w, targets, biases):
    cfg = make_cfg("experiment=backprop_sheet", f"sheet={preset}")
    assert list(cfg.sheet.w) == w
    assert list(cfg.sheet.inputs) == [0.05, 0.1]
    assert list(cfg.sheet.targets) == targets
    assert (cfg.sheet.b1, cfg.sheet.b2) == biases
    # the model and the single sample read the preset
    assert list(cfg.model.w) == w and list(cfg.data.targets) == targets and cfg.data.iterations == 100


def test_experiment_defaults_and_overrides(make_cfg):
    cfg = make_cfg("experiment=backprop_sheet")
    assert cfg.task.name == "backprop_sheet" and cfg.iterations == 100
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.momentum == 0
    assert cfg.optimizer.lr == cfg.lr and cfg.scheduler.fn is None
    assert list(cfg.sheet.targets) == [0.5, 0.5]  # era by default
    assert cfg.model.check_autograd is True
    assert "backprop_lr_summary" in cfg.hydra.callbacks
    cfg = make_cfg("experiment=backprop_sheet", "sheet=eva", "sheet.w=[1,2,3,4,5,6,7,8]",
                   "sheet.targets=[0.2,0.3]", "lr=2.0", "iterations=7")
    assert list(cfg.model.w) == [1, 2, 3, 4, 5, 6, 7, 8] and list(cfg.data.targets) == [0.2, 0.3]
    assert cfg.optimizer.lr == 2.0 and cfg.data.iterations == 7
