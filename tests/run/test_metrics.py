"""tinynets.run.metrics.run_metrics, the record a finished run writes: its best epoch, the first epoch at
the target, and the verdict, on histories where the wrong rule gives another answer (not a range)."""

from __future__ import annotations

from tinynets.run.metrics import FAILED, KILLED, run_metrics, status_of, verdict_block, write_metrics
from tinynets.run.resume import complete_record, objective_of

FLAGS = {"uses_bn": True, "uses_dropout": True, "uses_gap": True, "uses_fc": False}


def record(accs, eval_set="test", test_acc=None, params=7_890, target_epochs=3):
    history = [{"epoch": e, "val_acc": a} for e, a in enumerate(accs, start=1)]
    return run_metrics(model="slim", params=params, flags=FLAGS, history=history, test_acc=test_acc,
                       eval_set=eval_set, lr=0.2, seed=0, target_acc=99.4, target_epochs=target_epochs,
                       max_params=20_000)


def test_best_is_the_first_of_equal_maxima_and_the_target_the_first_epoch_at_it():
    m = record([98.9, 99.41, 99.5, 99.5, 99.3])
    assert (m["best_val_acc"], m["best_epoch"], m["target_epoch"]) == (99.5, 3, 2)
    assert m["epochs"] == 5 and m["val_acc"] == [98.9, 99.41, 99.5, 99.5, 99.3]
    assert m["verdict"] == {"params_ok": True, "acc_ok": True, "epochs_ok": True, **FLAGS}


def test_a_target_reached_late_or_never_fails_its_verdict():
    late = record([99.0, 99.1, 99.2, 99.45], target_epochs=3)
    assert late["target_epoch"] == 4 and late["verdict"]["acc_ok"] and not late["verdict"]["epochs_ok"]
    never = record([99.0, 99.39])
    assert never["target_epoch"] is None and not never["verdict"]["acc_ok"] and not never["verdict"]["epochs_ok"]
    assert not record([99.5], params=20_001)["verdict"]["params_ok"]
    exact = record([99.0, 99.4])  # the target itself counts
    assert exact["target_epoch"] == 2 and exact["verdict"]["acc_ok"]


def test_an_epoch_without_an_eval_is_skipped():
    m = record([None, 99.42, None])
    assert (m["best_val_acc"], m["best_epoch"], m["target_epoch"]) == (99.42, 2, 2)
    assert record([None])["best_val_acc"] is None


def test_on_a_holdout_the_claim_is_the_test_accuracy():
    """The holdout picks the epoch; the accuracy claimed is the test set's, so a holdout at 99.6 with a
    test pass at 99.3 does not meet the target."""
    m = record([99.5, 99.6], eval_set="holdout", test_acc=99.3)
    assert m["best_val_acc"] == 99.6 and m["target_epoch"] == 1 and not m["verdict"]["acc_ok"]
    assert record([99.5, 99.6], eval_set="holdout", test_acc=99.41)["verdict"]["acc_ok"]
    block = verdict_block(m, "001", 20_000, 3)
    assert "99.60% at epoch 2 on the holdout split of train" in block and "Accuracy target met   NO" in block


def test_a_record_without_a_status_is_failed_for_every_reader(tmp_path):
    assert (status_of(None), status_of({}), status_of({"status": None})) == (KILLED, FAILED, FAILED)
    assert status_of({"status": "pruned"}) == "pruned"
    m = record([99.5])  # a finished run's fields, its status left out
    write_metrics(tmp_path, {**m, "overrides": []})
    assert complete_record(tmp_path, []) is None and objective_of(m) is None  # redone, not counted
    write_metrics(tmp_path, {**m, "overrides": [], "status": "ok"})
    assert complete_record(tmp_path, []) is not None and objective_of({**m, "status": "ok"}) == 99.5
