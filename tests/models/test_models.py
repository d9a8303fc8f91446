"""tinynets.models: the write-up networks (exact parameter counts, shapes, flags, receptive
fields), the fast model, and the Classifier's compile flag."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from tests.helpers import CONF
from tinynets.models import zoo
from tinynets.models.batchnorm import BatchNorm2d
from tinynets.models.blocks import conv_block
from tinynets.models.receptive_field import receptive_fields
from tinynets.models.summary import summarize

# the write-ups' totals (001's table prints 36 for a 1x1 conv that has 136)
EXPECTED = {"gap_fc": 19_629, "gap_conv": 10_066, "transition": 19_944, "aggregator": 16_926, "deep_narrow": 12_088,
            "slim": 7_890, "micro": 5_552, "nano": 4_948,
            "sep": 4_608, "sep_wide": 5_476, "sep_narrow": 3_836, "fast": 18_544}
FLAGS = {  # BN, Dropout, GAP, FC
    "gap_fc": (True, True, True, True),
    "gap_conv": (True, True, True, False),
    "transition": (True, True, True, False),
    "aggregator": (True, True, True, False),
    "deep_narrow": (True, True, True, False),
    "slim": (True, True, True, False),
    "micro": (True, True, True, False),
    "nano": (True, True, True, False),
    "sep": (True, True, True, False),
    "sep_wide": (True, True, True, False),
    "sep_narrow": (True, True, True, False),
    "fast": (True, True, True, False),
}


MODEL_CONFS = sorted((CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("path", MODEL_CONFS, ids=lambda p: p.stem)
def test_every_model_config_states_its_exact_param_count(path, make_cfg):
    """Each named model's config opens with its exact parameter count ("N params"), as built from
    that config: the write-ups', ours and the search's finds (sep_deep) alike; the parametric
    families state the count of their defaults."""
    import re

    from hydra.utils import instantiate

    if path.stem == "tiny_sigmoid":  # the backprop sheet's 2-2-2 network: its 8 weights are the sheet's
        pytest.skip("not an MNIST CNN")
    head = " ".join(line for line in path.read_text().splitlines()[:3] if line.startswith("#"))
    stated = re.search(r"([\d,]+) params", head)
    assert stated, f"{path.name} does not state its param count in its opening comment"
    cfg = make_cfg(f"model={path.stem}")
    net = instantiate(cfg.model.net)
    assert sum(p.numel() for p in net.parameters()) == int(stated.group(1).replace(",", "")), path.name


@pytest.mark.parametrize("name", EXPECTED)
def test_exact_param_count(name):
    net = getattr(zoo, name)()
    assert net.num_params == EXPECTED[name]
    assert sum(p.numel() for p in net.parameters()) == EXPECTED[name]


@pytest.mark.parametrize("name", EXPECTED)
def test_logits_shape_and_flags(name):
    net = getattr(zoo, name)(dropout=0.1).eval()
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert tuple(net.flags.values()) == FLAGS[name]


@pytest.mark.parametrize("name", EXPECTED)
def test_dropout_zero_builds_no_dropout_layers_and_same_params(name):
    net = getattr(zoo, name)(dropout=0.0)
    assert not net.flags["uses_dropout"]
    assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules())
    assert net.num_params == EXPECTED[name]


def test_aggregator_keeps_the_published_layers():
    """Write-up 003's table, layers 1-19: these convs and BNs, in this order, these counts."""
    net = zoo.aggregator()
    published = [80, 16, 584, 16, 1460, 40, 336, 32, 2320, 32, 4350]
    counts = [sum(p.numel() for p in m.parameters())
              for m in net.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    assert counts[: len(published)] == published
    assert net.num_params < 20_000


def test_conv_block_order_and_options():
    b = conv_block(4, 8, padding=1, bias=True, dropout=0.1)
    assert [type(m) for m in b][:3] == [nn.Conv2d, nn.ReLU, BatchNorm2d]  # tinynets' CPU-fast nn.BatchNorm2d
    assert isinstance(b.drop, nn.Dropout) and list(b.named_children())[-1][0] == "drop"
    assert b.conv.bias is not None and b.conv.padding == (1, 1)
    bare = conv_block(4, 8, k=1, relu=False, bn=False)
    assert [type(m) for m in bare] == [nn.Conv2d] and bare.conv.bias is None
    assert isinstance(conv_block(4, 8, dropout=0.1, dropout2d=True).drop, nn.Dropout2d)


def test_receptive_field_of_deep_narrow_by_hand():
    """deep_narrow: three 3x3 convs (RF 3, 5, 7), max-pool 2 (RF 8, jump 2), a 1x1 (no change),
    four 3x3 convs at jump 2 (RF 12, 16, 20, 24), GAP over 6x6 at jump 2 (24 + 5*2 = 34)."""
    rf = dict(receptive_fields(zoo.deep_narrow()))
    assert (rf["c1.conv"].rf, rf["c2.conv"].rf, rf["c3.conv"].rf) == (3, 5, 7)
    assert (rf["pool1"].jump, rf["pool1"].rf) == (2, 8)
    assert rf["t1.conv"].rf == 8
    assert [rf[f"c{i}.conv"].rf for i in (4, 5, 6, 7)] == [12, 16, 20, 24]
    assert (rf["gap"].jump, rf["gap"].rf) == (12, 34)
    assert rf["head.conv"].rf == 34


def test_summary_table_lists_layers_and_total():
    text = summarize(zoo.gap_fc())
    assert "Total params: 19,629" in text.splitlines()[-1]
    assert "BN: yes  Dropout: yes  GAP: yes  FC: yes" in text
    row = next(line for line in text.splitlines() if line.startswith("pool2"))
    assert row.split()[2:] == ["20x6x6", "0", "4", "18"]


@pytest.mark.parametrize("name", EXPECTED)
def test_tracked_sizes_match_the_real_feature_maps(name):
    """The RF arithmetic's spatial sizes equal what a forward pass produces, layer by layer."""
    net = getattr(zoo, name)().eval()
    sizes = {}
    for n, m in net.named_modules():
        if not list(m.children()):
            m.register_forward_hook(lambda mod, i, o, n=n: sizes.__setitem__(n, o.shape[-1] if o.dim() == 4 else None))
    net(torch.zeros(1, 1, 28, 28))
    spatial = {n: size for n, size in sizes.items() if size is not None}  # every layer with a feature map
    tracked = dict(receptive_fields(net))
    assert len(spatial) >= 10 and {n: getattr(tracked.get(n), "size", None) for n in spatial} == spatial


def test_global_adaptive_pooling_counts_as_its_whole_window():
    """slim: ... c6 (padded) at 7x7, jump 2, RF 20; GAP over 7x7 adds 6 * 2 = 12 -> RF 32."""
    rf = dict(receptive_fields(zoo.slim()))
    assert (rf["c6.conv"].size, rf["c6.conv"].jump, rf["c6.conv"].rf) == (7, 2, 20)
    assert (rf["gap"].size, rf["gap"].jump, rf["gap"].rf) == (1, 14, 32)


def test_summary_cli_composes_the_training_config(capsys):
    from tinynets.models.summary import main

    assert main(["model=gap_conv", "dropout=none"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model=gap_conv\n") and out.rstrip().endswith("Total params: 10,066")
    assert "Dropout: no" in out
    assert main(["experiment=deep_narrow", "dropout.p=3"]) == 2
    assert capsys.readouterr().err.strip() == "error: dropout.p=3 is not allowed: must be a number in [0, 1)"


def test_compile_flag(make_cfg):
    from hydra.utils import instantiate

    from tinynets.checks import check
    from tinynets.errors import ConfigError

    cfg = make_cfg("compile=true", "model=gap_fc")
    check(cfg)
    net = instantiate(cfg.model.net)
    keys = set(net.state_dict())
    module = instantiate(cfg.model, net=net, optimizer=cfg.optimizer, scheduler=cfg.scheduler, compile=True)
    assert module.net._compiled_call_impl is not None  # compiled in place (nothing run here: slow on CPU)
    assert set(module.net.state_dict()) == keys  # checkpoints keep their keys
    assert make_cfg().compile is False
    OmegaConf.update(cfg, "compile", "yes")
    with pytest.raises(ConfigError, match="compile='yes' is not allowed: must be true or false"):
        check(cfg)


def test_fast_the_fast_recipe_model():
    from tinynets.models import zoo
    from tinynets.models.receptive_field import receptive_fields

    net = zoo.fast()
    assert net.num_params == 18_544
    assert net.flags == {"uses_bn": True, "uses_dropout": False, "uses_gap": True, "uses_fc": False}
    assert zoo.fast(dropout=0.05).flags["uses_dropout"]
    assert net.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    rf = dict(receptive_fields(net))
    assert rf["c5.conv"].rf == 30  # as its docstring says: wider than the 28-px digit at the GAP


@pytest.mark.parametrize("stop", ["epoch", "max_steps=1"])
def test_train_loss_and_acc_are_the_epochs_image_weighted_means(make_cfg, tiny_mnist, stop):
    """train/loss and train/acc are summed on the device each step and logged once, at the
    epoch's last step (or the run's, under max_steps): the same numbers as a per-step log,
    weighted by batch size (the last batch here is short: 104 = 3 x 32 + 8 images)."""
    import lightning as L
    from hydra.utils import instantiate

    class Steps(L.Callback):
        """Each step's loss, correct count and batch size, as a per-step log would see them."""

        def __init__(self) -> None:
            self.seen: list[tuple[float, int, int]] = []
            self.logits = None

        def on_fit_start(self, trainer, pl_module):
            pl_module.net.register_forward_hook(lambda m, i, out: setattr(self, "logits", out.detach()))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            y = batch[1]
            self.seen.append((float(outputs["loss"]), int((self.logits.argmax(1) == y).sum()), len(y)))

    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "data.augment.rotation=0",
                   "data.augment.translate=0", "data.augment.scale=0", "dropout=none")
    net = instantiate(cfg.model.net)
    module = instantiate(cfg.model, net=net, optimizer=cfg.optimizer, scheduler=cfg.scheduler)
    data = instantiate(cfg.data)
    data.setup("fit")
    data.splits["train"] = tuple(t[:104] for t in data.splits["train"])
    steps = Steps()
    trainer = L.Trainer(max_epochs=1, limit_train_batches=None, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[steps], max_steps=1 if stop == "max_steps=1" else -1)
    trainer.fit(module, datamodule=data)
    losses, correct, sizes = (np.array(v) for v in zip(*steps.seen))
    assert list(sizes) == ([32, 32, 32, 8] if stop == "epoch" else [32])
    logged = trainer.callback_metrics
    assert float(logged["train/loss"]) == pytest.approx((losses * sizes).sum() / sizes.sum(), rel=1e-5)
    assert float(logged["train/acc"]) == pytest.approx(100 * correct.sum() / sizes.sum(), rel=1e-5)


def test_label_smoothing_is_the_training_losss_only(make_cfg, tiny_mnist):
    """`label_smoothing=0.1` (a top-level key, built in by trainer.build_module): the training step
    returns cross-entropy with smoothed targets; evaluation reports the plain cross-entropy."""
    import lightning as L
    import torch.nn.functional as F

    from tinynets.checks import check
    from tinynets.errors import ConfigError
    from tinynets.run.assemble import build_module

    seen = {}

    class Look(L.Callback):
        def on_fit_start(self, trainer, pl_module):
            def keep(m, inputs, out):  # returns None: the output stays as it is
                if m.training:
                    seen.setdefault("logits", out.detach())

            pl_module.net.register_forward_hook(keep)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen["loss"], seen["y"] = float(outputs["loss"]), batch[1]

    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "label_smoothing=0.1",
                   "dropout=none")
    check(cfg)
    from hydra.utils import instantiate

    module = build_module(cfg, instantiate(cfg.model.net), "model")
    assert module.label_smoothing == 0.1
    data = instantiate(cfg.data)
    trainer = L.Trainer(max_steps=1, limit_val_batches=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Look()])
    trainer.fit(module, datamodule=data)
    logits, y = seen["logits"], seen["y"]
    smoothed, plain = float(F.cross_entropy(logits, y, label_smoothing=0.1)), float(F.cross_entropy(logits, y))
    assert abs(smoothed - plain) > 1e-4  # the two differ here, so the next line tells them apart
    assert seen["loss"] == pytest.approx(smoothed, abs=1e-5)
    module.eval()
    x_val, y_val = next(iter(data.val_dataloader()))
    x_val, y_val = data.on_after_batch_transfer((x_val, y_val), 0)
    module.metrics["val_loss"].reset()
    module._eval_step("val", (x_val, y_val))
    plain = F.cross_entropy(module(x_val), y_val)
    assert float(module.metrics["val_loss"].compute()) == pytest.approx(float(plain), rel=1e-5)
    assert make_cfg().label_smoothing == 0.0
    OmegaConf.update(cfg, "label_smoothing", 1.0)
    with pytest.raises(ConfigError, match=r"label_smoothing=1.0 is not allowed: must be a number in \[0, 1\)"):
        check(cfg)
