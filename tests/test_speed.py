"""Speed work: the CPU dropout, the compile flag, `python -m tinynets.bench` (quick mode on
synthetic data) and the timed `train.py` run behind the time-to-target report."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from tinynets.models.dropout import Dropout, geometric_dropout_mask


@pytest.mark.parametrize(("p", "chunk"), [(0.069, None), (0.2, None), (0.05, 7)], ids=["p0.069", "p0.2", "refill"])
def test_geometric_mask_is_iid_bernoulli(p, chunk):
    """0 with probability p, 1/(1-p) otherwise, independent of the neighbours (chunk=7 forces
    the refill path: gaps drawn seven at a time)."""
    torch.manual_seed(0)
    n = 200_000 if chunk is None else 20_000
    m = geometric_dropout_mask(n, p, chunk=chunk)
    dropped = (m == 0).double()
    values = torch.unique(m).tolist()
    assert values[0] == 0.0 and values[1:] == [pytest.approx(1 / (1 - p))]
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(dropped.mean().item() - p) < 5 * sd
    assert abs(m.double().mean().item() - 1) < 5 * sd / (1 - p)  # inverted dropout keeps the mean
    pairs = (dropped[1:] * dropped[:-1]).mean().item()  # P(two neighbours dropped) = p^2
    assert abs(pairs - p * p) < 5 * (p * p * (1 - p * p) / n) ** 0.5
    # dropped positions spread over the whole range, not bunched at the start
    assert abs(dropped[: n // 2].mean().item() - dropped[n // 2:].mean().item()) < 10 * sd


def test_dropout_layer_matches_nn_dropout_semantics():
    torch.manual_seed(0)
    layer = Dropout(0.1)
    x = torch.randn(64, 16, 14, 14).to(memory_format=torch.channels_last).requires_grad_()
    y = layer(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    ratio = (y / x).detach()
    assert torch.all((ratio.abs() < 1e-6) | ((ratio - 1 / 0.9).abs() < 1e-5))
    y.sum().backward()
    assert torch.allclose(x.grad, ratio, atol=1e-5)  # gradient = the mask, as nn.Dropout's
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    assert torch.equal(a, layer(x))  # seeded: reproducible
    layer.eval()
    assert torch.equal(layer(x), x)
    assert isinstance(layer, torch.nn.Dropout)  # the model flags and summaries see a Dropout
    nc = torch.randn(8, 8)[:, ::2]  # neither layout: nn.Dropout's own path
    out = Dropout(0.5).train()(nc)
    assert set(torch.unique((out / nc).round(decimals=4)).tolist()) <= {0.0, 2.0}


def test_models_use_the_fast_dropout():
    from tinynets.models import zoo

    net = zoo.deep_narrow()
    assert any(type(m) is Dropout for m in net.modules())
    assert not any(type(m) is torch.nn.Dropout for m in net.modules())


def test_compile_flag(make_cfg):
    from hydra.utils import instantiate

    from tinynets.config import ConfigError, check

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


def test_bench_quick_writes_results_and_readme(tmp_path):
    from tinynets.bench.__main__ import main
    from tinynets.bench.render import render

    assert main(["--quick", "--models", "deep_narrow", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    m = res["models"]["deep_narrow"]
    assert res["quick"] and m["params"] == 12_088 and m["batch_size"] == 32
    i = m["img_per_s"]
    assert set(i) == {"seed", "tinynets", "raw"} and all(v > 0 for v in i.values())
    assert m["speedup_vs_seed_pipeline"] == pytest.approx(i["tinynets"] / i["seed"], rel=1e-2)
    assert m["ratio_vs_raw_loop"] == pytest.approx(i["tinynets"] / i["raw"], rel=1e-2)
    assert m["worker_peak_rss_mb"] > 0  # (a) ran with its two DataLoader workers
    assert all(v > 0 for v in m["peak_mem_mb"].values()) and m["device"].startswith("cpu")
    assert set(m["options"]) == {"default", "channels_last=false", "bf16-mixed", "nn.Dropout"}  # quick: no compile
    assert all(o["img_per_s"] > 0 for o in m["options"].values()) and m["options"]["default"]["vs_default"] == 1
    readme = (tmp_path / "README.md").read_text()
    assert "QUICK MODE" in readme and "| `deep_narrow` | 12,088 |" in readme and "No GPU was measured" in readme
    assert render(res) == readme  # the README is generated from results.json alone


FAKE_TRAIN = """
import json, sys, time
run_dir = sys.argv[-1].split("=", 1)[1]
history = []
for epoch, acc in ((1, 99.12), (2, 99.43), (3, 99.51)):
    time.sleep(0.3)
    print(f"[Epoch {epoch}] loss=0.1000 | val loss=0.0200 acc={int(acc * 100)}/10000 ({acc:.2f}%) on test | 0.3s")
    history.append({"epoch": epoch, "val_acc": acc - 1e-6, "seconds": 0.304})  # float32-ish, as recorded
history.append({"epoch": 4, "val_acc": 99.6, "seconds": 0.3})  # recorded, its line never printed: no time
import pathlib
pathlib.Path(run_dir).mkdir(parents=True, exist_ok=True)
pathlib.Path(run_dir, "metrics.json").write_text(json.dumps(
    {"first_step_s": 0.05, "best_val_acc": 99.51, "test_acc": 99.51, "device": "cpu: x", "params": 1, "model": "m",
     "history": history}))
"""


def test_timed_run_times_each_epoch_line_as_printed(tmp_path):
    """The clock stops when the epoch line at the target is printed, not when the run ends; each
    epoch's accuracy and seconds come from the run's records (metrics.json `history`)."""
    from tinynets.bench.fast import timed_run
    from tinynets.bench.render import render_fast

    r = timed_run(["seed=0"], tmp_path / "run", target=99.4, script=["-c", FAKE_TRAIN])
    assert [(e["epoch"], e["acc"], e["epoch_s"]) for e in r["epochs"]] == [(1, 99.12, 0.3), (2, 99.43, 0.3),
                                                                           (3, 99.51, 0.3)]
    assert r["target_epoch"] == 2
    assert 0.5 < r["time_to_target_s"] < r["epochs"][2]["at_s"] <= r["wall_s"]
    assert r["first_step_s"] == 0.05 and r["test_acc"] == 99.51
    text = "\n".join(render_fast({"target_acc": 99.4, "train_command": "python train.py x", "command": "c",
                                  "date": "d", "runs": {"0": r}, "max_time_to_target_s": r["time_to_target_s"],
                                  "median_time_to_target_s": r["time_to_target_s"]}))
    assert "| 0 | 0.1 s | 2 |" in text and "All seeds reached 99.4%" in text
    with pytest.raises(RuntimeError, match="exited 3"):
        timed_run([], tmp_path / "bad", target=None, script=["-c", "import sys; print('boom'); sys.exit(3)"])


def test_metrics_record_the_first_step(make_cfg, tiny_mnist):
    """first_step_s: from the process start to the end of the first training step."""
    from tinynets.train import _run, quiet_lightning

    quiet_lightning()
    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "logger=none",
                   "callbacks=none")
    _run(cfg)
    m = json.loads((tmp_path_of(cfg) / "metrics.json").read_text())
    from tinynets.runtime import seconds_since_start

    assert 0 < m["first_step_s"] < seconds_since_start()


def tmp_path_of(cfg):
    from pathlib import Path

    return Path(cfg.paths.output_dir)


def test_vgg_lite_the_fast_recipe_model():
    from tinynets.models import zoo
    from tinynets.receptive_field import receptive_fields

    net = zoo.vgg_lite()
    assert net.num_params == 17_816
    assert net.flags == {"uses_bn": True, "uses_dropout": True, "uses_gap": True, "uses_fc": False}
    assert net.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    rf = dict(receptive_fields(net))
    assert rf["c6.conv"].rf == 32  # as its docstring says: wider than the 28-px digit at the GAP
