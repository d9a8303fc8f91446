"""Architecture search: model=searchable's exact size, hparams_search=arch_search through our
Optuna sweeper (pruning over budget before training, pruning weak trials from their per-epoch
val accuracy, a resumable study, best_model.yaml) and the holdout it insists on."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sweeps import one_thread, read_csv, run_train, train_inprocess  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")
from tinynets.models.searchable import searchable, searchable_params


def by_hand(c1, c2, c3, n1, n2, n3, transition, head):
    """3x3 convs without bias + BN (2 params per channel); 1x1 transitions; the head."""
    def conv(ci, co, k=3, bn=True):
        return ci * co * k * k + (2 * co if bn else 0)

    total, c_in = 0, 1
    for i, (c, n) in enumerate(((c1, n1), (c2, n2), (c3, n3))):
        if i and transition:
            total += conv(c_in, c, k=1, bn=False)
            c_in = c
        for _ in range(n):
            total += conv(c_in, c)
            c_in = c
    return total + (c_in * 10 if head == "gap_conv" else c_in * 10 + 10)


@pytest.mark.parametrize("knobs", [
    dict(c1=8, c2=16, c3=16, n1=2, n2=2, n3=2, transition=True, head="gap_conv"),
    dict(c1=4, c2=12, c3=32, n1=1, n2=3, n3=1, transition=False, head="gap_fc"),
    dict(c1=16, c2=8, c3=24, n1=3, n2=1, n3=2, transition=True, head="gap_fc"),
])
def test_searchable_size_is_known_before_training(knobs):
    net = searchable(**knobs, dropout=0.05)
    assert searchable_params(**knobs) == net.num_params == by_hand(**knobs)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert net.flags == {"uses_bn": True, "uses_dropout": True, "uses_gap": True,
                         "uses_fc": knobs["head"] == "gap_fc"}


def test_searchable_rejects_bad_knobs():
    with pytest.raises(ValueError, match=r"^model.net.c2=0 is not allowed: must be an integer >= 1$"):
        searchable(c2=0)
    with pytest.raises(ValueError, match=r"^model.net.head='fc' is not allowed: must be one of gap_conv, gap_fc$"):
        searchable(head="fc")


# the search space narrowed to one knob, c3 in {8, 16, 256}: 256 channels is far over 20k params.
# TPE (seed 3) starts with random draws: c3 = 16, 256, 16, then 8 when the study is resumed.
SMALL = ("model.net.c1=4", "model.net.c2=8", "model.net.n1=1", "model.net.n2=1", "model.net.n3=1",
         "model.net.transition=true", "model.net.head=gap_conv", "lr=0.05", "dropout.p=0.05",
         "model.net.c3=choice(8,16,256)", "hydra.sweeper.sampler.seed=3", "data.val_split=64")


def load_study(sweep):
    import optuna

    return optuna.load_study(study_name="arch_search", storage=f"sqlite:///{sweep}/optuna.db")


def test_search_prunes_over_budget_trials_and_resumes(tmp_path, tiny_mnist):
    sweep = tmp_path / "search"
    args = ("hparams_search=arch_search", "debug=fast", "data.verify=false", f"paths.data_dir={tiny_mnist}",
            "~callbacks.test_figures",
            *SMALL, f"hydra.sweep.dir={sweep}")
    code, err = train_inprocess(*args, "hydra.sweeper.n_trials=3")
    assert code == 0, err

    from optuna.trial import TrialState

    trials = load_study(sweep).trials
    assert len(trials) == 3
    over = [t for t in trials if t.params["model.net.c3"] == 256]
    assert over and len(over) < 3  # the seed gives both kinds
    for t in trials:
        m = json.loads((sweep / f"trial={t.number}" / "metrics.json").read_text())
        if t.params["model.net.c3"] == 256:  # pruned before any training: no epochs, no checkpoint
            assert t.state == TrialState.PRUNED and not t.intermediate_values
            assert m["status"] == "pruned" and m["error"].startswith("over max_params (")
            assert m["params"] > 20_000 and "history" not in m
            assert not (sweep / f"trial={t.number}" / "checkpoints").exists()
        else:
            assert t.state == TrialState.COMPLETE and t.value == pytest.approx(m["best_val_acc"])
            assert m["status"] == "ok" and m["eval_set"] == "holdout" and m["params"] <= 20_000
            assert t.intermediate_values == {1: pytest.approx(m["val_acc"][0])}  # reported per epoch

    rows = read_csv(sweep / "leaderboard.csv")
    assert len(rows) == 3
    pruned = [r for r in rows if r["status"].startswith("pruned: over max_params (")]
    assert len(pruned) == len(over) and all(r["rank"] in ("2", "3") for r in pruned)

    # best_model.yaml: a drop-in conf/model/ file that builds the best trial's network
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    drop_in = OmegaConf.load(sweep / "best_model.yaml")
    assert drop_in._target_ == "tinynets.models.classifier.Classifier"
    net = instantiate(drop_in.net)
    assert drop_in.net.c3 == best.params["model.net.c3"] and drop_in.net.dropout == 0.05
    assert net.num_params == json.loads((sweep / f"trial={best.number}" / "metrics.json").read_text())["params"]
    first = {p: p.stat().st_mtime_ns for p in sweep.glob("trial=*/metrics.json")}

    # the same command again resumes the study: trial numbers go on, earlier trials stay
    code, err = train_inprocess(*args, "hydra.sweeper.n_trials=1")
    assert code == 0, err
    trials = load_study(sweep).trials
    assert [t.number for t in trials] == [0, 1, 2, 3] and trials[3].state == TrialState.COMPLETE
    assert trials[3].params["model.net.c3"] == 8  # the sampler did not replay the first run's draws
    assert {p: p.stat().st_mtime_ns for p in first} == first
    assert len(read_csv(sweep / "leaderboard.csv")) == 4

    # ... but another command does not resume it
    code, err = train_inprocess(*args, "lr=0.1", "hydra.sweeper.n_trials=1")
    assert code == 2 and err.strip().startswith("error: hydra.sweeper.study_name='arch_search' is not allowed: "
                                                "the study in sqlite:///")
    assert len(load_study(sweep).trials) == 4


def test_the_pruner_stops_a_weak_trial(tmp_path, tiny_mnist):
    """A ThresholdPruner asking for more than 100% prunes every trial at its first report."""
    sweep = tmp_path / "search"
    code, err = train_inprocess("hparams_search=arch_search", "debug=fast", "trainer.max_epochs=3",
                                "data.verify=false", f"paths.data_dir={tiny_mnist}", *SMALL[:-3], "model.net.c3=8",
                                "data.val_split=64", "hydra/sweeper/pruner=threshold",
                                "hydra.sweeper.pruner.lower=101", "hydra.sweeper.n_trials=1",
                                f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    (trial,) = load_study(sweep).trials
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]
    m = json.loads((sweep / "trial=0" / "metrics.json").read_text())
    assert m["status"] == "pruned" and m["epochs"] == 1 and m["test_acc"] is None
    assert m["error"] == f"by ThresholdPruner at epoch 1 (val/acc={m['val_acc'][0]:.2f})"
    (row,) = read_csv(sweep / "leaderboard.csv")
    assert row["status"] == f"pruned: {m['error']}"
    assert not (sweep / "best_model.yaml").exists()  # no trial completed


def test_search_refuses_to_start_without_a_holdout(tmp_path):
    sweep = tmp_path / "search"
    done = run_train("-m", "hparams_search=arch_search", "data.val_split=0", f"hydra.sweep.dir={sweep}")
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: data.val_split=0 is not allowed: a search needs a holdout: an integer "
                                   ">= 1 (e.g. 5000), so that its objective is never the test set")
    assert not sweep.exists()


def test_a_trial_refuses_the_test_set_too(make_cfg):
    """The job checks it as well (a trial launched by another sweeper, or by hand)."""
    from tinynets.search import check_holdout
    from tinynets.config import ConfigError

    check_holdout(make_cfg("hparams_search=arch_search"))
    with pytest.raises(ConfigError, match=r"^data.val_split=0 is not allowed"):
        check_holdout(make_cfg("hparams_search=arch_search", "data.val_split=0"))
