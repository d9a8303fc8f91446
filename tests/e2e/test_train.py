"""`python train.py debug=fast` end to end (one subprocess), plus in-process runs of the
other data paths. Data: tiny synthetic IDX files (data.verify=false)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from tests.helpers import run_cli

pytestmark = pytest.mark.slow  # subprocesses and whole trainings

METRIC_KEYS = {"model", "params", "epochs", "lr", "seed", "best_val_acc", "best_epoch", "test_acc",
               "target_epoch", "eval_set", "verdict", "val_acc", "history", "device", "wall_s"}
VERDICT_KEYS = {"params_ok", "acc_ok", "epochs_ok", "uses_bn", "uses_dropout", "uses_gap", "uses_fc"}


def test_train_debug_fast_end_to_end(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    done = run_cli("train.py", "debug=fast", "model=gap_fc", "lr=0.05", f"paths.data_dir={tiny_mnist}",
                   "data.verify=false", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "[Epoch 1] loss=" in out and "on test" in out
    assert "Submission Info" in out and "Used Fully-Connected  yes" in out
    assert "gap_fc (write-up 000)" in out  # the id its conf/model/gap_fc.yaml carries
    assert "(<= 20,000: yes)" in out and "(<= 20: " in out  # train.yaml's max_params and target_epochs
    assert out.count("GPU available") <= 1  # Lightning's lines are not printed twice

    m = json.loads((run_dir / "metrics.json").read_text())
    assert METRIC_KEYS <= m.keys() and VERDICT_KEYS == set(m["verdict"])
    assert (m["model"], m["params"], m["epochs"], m["eval_set"]) == ("gap_fc", 19_629, 1, "test")
    assert m["verdict"]["params_ok"] and m["verdict"]["uses_fc"]
    h = m["history"][0]
    assert m["best_val_acc"] == max(m["val_acc"]) == h["val_acc"] and m["best_epoch"] == 1  # the counts torchmetrics kept agree with the accuracy, on all 128 test images
    assert h["val_total"] == 128 and 100 * h["val_correct"] / 128 == pytest.approx(h["val_acc"], abs=1e-3)
    assert f"acc={h['val_correct']}/128" in out
    assert m["test_acc"] == pytest.approx(m["best_val_acc"])  # eval set = test set, final weights
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    # what a run's checkpoint carries loads with weights_only=True (plain data: resume, export, predict)
    import torch

    for ckpt in (run_dir / "checkpoints").iterdir():
        state = torch.load(ckpt, weights_only=True)
        assert state["callbacks"]["History"]["records"][0]["train_acc"] is not None
    # curves.png: a whole PNG, with the epoch's train and eval numbers behind it
    from PIL import Image

    with Image.open(run_dir / "curves.png") as im:
        assert im.format == "PNG" and im.width > 600
    assert not list(run_dir.glob(".curves.png.*"))  # no temp file left behind
    # one TensorBoard event file for the whole run (fit, test and the final HPARAMS metrics)
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1

    # TensorBoard's own reader: scalars, the HPARAMS session, and the two figures
    mux = EventMultiplexer().AddRunsFromDirectory(str(run_dir))
    mux.Reload()
    tags = mux.Runs()["."]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr", "hp/best_val_acc", "hp/test_acc", "hp/params"} <= set(tags["scalars"])
    assert {"test/confusion_matrix", "test/misclassified"} <= set(tags["images"])
    assert mux.Scalars(".", "hp/params")[-1].value == 19_629
    assert mux.Scalars(".", "val/acc")[-1].value == pytest.approx(m["best_val_acc"], abs=1e-4)
    hp = mux.PluginRunToTagToContent("hparams")["."]
    assert "_hparams_/session_start_info" in hp and "_hparams_/experiment" in hp


@pytest.fixture(scope="module")
def lightning_quiet():
    from tinynets.process import quiet_lightning

    quiet_lightning()


def test_holdout_split_evaluates_on_holdout_and_tests_once(make_cfg, tiny_mnist, lightning_quiet):
    from tinynets.run.classify import _run

    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "data.val_split=64",
                   "logger=none")
    _run(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert m["eval_set"] == "holdout" and m["test_weights"] == "best-on-holdout"
    assert m["history"][0]["val_total"] == 64
    assert m["test_acc"] is not None
    assert 0 < m["cpu_s"] <= time.process_time()  # this run's CPU seconds (search.cost reads them)
    # a second run in the same process (a search worker runs its jobs so) counts its own CPU only
    before = time.process_time()
    _run(cfg)
    again = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0 < again["cpu_s"] <= time.process_time() - before


def test_classic_torchvision_pipeline_runs(make_cfg, tiny_mnist, lightning_quiet):
    from tinynets.run.classify import _run

    cfg = make_cfg("debug=fast", "data=mnist_torchvision", "data.num_workers=0", "data.augment.rotation=7",
                   f"paths.data_dir={tiny_mnist}", "data.verify=false", "logger=none", "callbacks=none")
    best = _run(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert m["status"] == "ok" and m["eval_set"] == "test" and best == m["best_val_acc"]
    rec = m["history"][0]
    assert rec["val_total"] == 128  # every synthetic test image once, through torchvision's DataLoader
    assert 100 * rec["val_correct"] / rec["val_total"] == pytest.approx(rec["val_acc"], abs=1e-3)
