"""Speed work: the CPU dropout, the compile flag, `python -m tinynets.bench` (quick mode on
synthetic data) and the timed `train.py` run behind the time-to-target report."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
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
    from tinynets import bench

    assert bench.main(["--quick", "--models", "gap_fc", "--no-options", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    m = res["models"]["gap_fc"]
    assert res["quick"] and m["params"] == 19_629 and m["batch_size"] == 32
    i = m["img_per_s"]
    assert set(i) == {"seed", "tinynets", "raw"} and all(v > 0 for v in i.values())
    assert m["speedup_vs_seed_pipeline"] == pytest.approx(i["tinynets"] / i["seed"], rel=1e-2)
    assert m["ratio_vs_raw_loop"] == pytest.approx(i["tinynets"] / i["raw"], rel=1e-2)
    assert m["worker_peak_rss_mb"] > 0  # (a) ran with its two DataLoader workers
    assert all(v > 0 for v in m["peak_mem_mb"].values()) and m["device"].startswith("cpu")
    readme = (tmp_path / "README.md").read_text()
    assert "QUICK MODE" in readme and "| `gap_fc` | 19,629 |" in readme and "No GPU was measured" in readme
    assert bench.render(res) == readme  # the README is generated from results.json alone


def test_timed_run_reads_epochs_and_first_step(tmp_path, tiny_mnist):
    from tinynets.bench import render_fast, timed_run

    r = timed_run(["debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "logger=none",
                   "callbacks=none"], tmp_path / "run", target=0.0)
    assert [e["epoch"] for e in r["epochs"]] == [1] and r["target_epoch"] == 1
    assert 0 < r["first_step_s"] < r["time_to_target_s"] <= r["wall_s"]
    assert r["test_acc"] is not None and r["device"].startswith("cpu")
    text = "\n".join(render_fast({"target_acc": 0.0, "train_command": "python train.py debug=fast", "command": "x",
                                  "date": "d", "runs": {"0": r}, "max_time_to_target_s": r["time_to_target_s"],
                                  "median_time_to_target_s": r["time_to_target_s"]}))
    assert "| 0 |" in text and "All seeds reached" in text
