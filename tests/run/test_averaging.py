"""The `averaging` group (tinynets.run.averaging): the averaged weights, BN buffers included, are
what is validated, tested and checkpointed; averaging=none changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import tiny as small
from tinynets.run.task import run

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(data: Path, *more: str) -> tuple[str, ...]:
    return small(data, "logger=none", "trainer.max_epochs=2", "resume=false", *more)


def train(make_cfg, capsys, *overrides: str) -> tuple[dict, dict]:
    cfg = make_cfg(*overrides)
    run(cfg)
    out = Path(cfg.paths.output_dir)
    return json.loads((out / "metrics.json").read_text()), torch.load(out / "checkpoints" / "last.ckpt",
                                                                        weights_only=True)


def test_ema_with_decay_0_is_the_plain_run(make_cfg, tiny_mnist, capsys):
    """avg <- 0 * avg + 1 * w: the same run as averaging=none, epoch for epoch (the wiring changes nothing else)."""
    plain, _ = train(make_cfg, capsys, *tiny(tiny_mnist))
    ema0, ckpt = train(make_cfg, capsys, *tiny(tiny_mnist, "averaging=ema", "averaging.decay=0.0"))
    assert [e["val_acc"] for e in ema0["history"]] == [e["val_acc"] for e in plain["history"]]
    assert ema0["test_acc"] == plain["test_acc"]
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(v, ckpt["current_model_state"][k]), k


@pytest.mark.parametrize("averaging", [("averaging=ema", "averaging.decay=0.5"), ("averaging=swa", "averaging.start=0.5")])
def test_checkpoint_holds_the_averaged_weights_and_buffers(make_cfg, tiny_mnist, capsys, averaging):
    _, ckpt = train(make_cfg, capsys, *tiny(tiny_mnist, *averaging))
    avg, raw = ckpt["state_dict"], ckpt["current_model_state"]
    weights = [k for k in avg if k.endswith("conv.weight")]
    means = [k for k in avg if k.endswith("running_mean")]
    assert weights and means
    assert any(not torch.equal(avg[k], raw[k]) for k in weights)  # the parameters are averaged
    assert any(not torch.equal(avg[k], raw[k]) for k in means)  # and so are BN's buffers


def test_swa_validates_the_live_weights_until_its_window_opens(make_cfg, tiny_mnist, capsys):
    """start=0.99: no step averaged until the last; the epochs before it are the plain run's, not the
    initial weights' (a floor or `best` would otherwise judge an untrained net)."""
    plain, _ = train(make_cfg, capsys, *tiny(tiny_mnist))
    swa, _ = train(make_cfg, capsys, *tiny(tiny_mnist, "averaging=swa", "averaging.start=0.99"))
    assert swa["history"][0]["val_loss"] == plain["history"][0]["val_loss"]


def test_swa_starts_where_told():
    """Steps before the start are not averaged; epoch ends never are (the updates are per step)."""
    from tinynets.run.averaging import SWA

    swa = SWA(start=0.5)
    swa._first_step = 4
    assert [swa.should_update(step_idx=i) for i in range(6)] == [False] * 4 + [True] * 2
    assert not swa.should_update(epoch_idx=3)


@pytest.mark.parametrize("AVG", [(), ("averaging=ema", "averaging.decay=0.6")])
def test_averaged_weights_are_what_is_tested(make_cfg, tiny_mnist, AVG):
    """The test pass scores the checkpoint's averaged weights: loading them into a fresh net and
    evaluating the test split gives the recorded test accuracy."""
    from hydra.utils import instantiate

    from tinynets.data.mnist import MNISTData, to_input

    cfg = make_cfg(*tiny(tiny_mnist, *AVG, "trainer.limit_test_batches=null"))
    run(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    # last.ckpt is the last epoch's, also when that epoch is not the best (Lightning 2.6's save_last is not)
    assert ckpt["epoch"] == len(metrics["history"]) - 1 == 1
    net = instantiate(cfg.model.net)
    net.load_state_dict({k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
    data = MNISTData(root=str(tiny_mnist), verify=False, batch_size=32)
    data.setup("test")
    x, y = data.splits["test"]
    with torch.no_grad():
        acc = (net.eval()(to_input(x)).argmax(1) == y).float().mean().item() * 100
    assert metrics["test_acc"] == pytest.approx(acc, abs=1e-3)
