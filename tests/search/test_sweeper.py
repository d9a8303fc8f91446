"""Architecture search: model=searchable's exact size, the budget-aware sampler, hparams_search=
arch_search through our Optuna sweeper (trials inside max_params, over-budget samples pruned with
their count, failed trials, weak trials pruned per epoch, a resumable study with an interrupted
trial run again, best_model.yaml) and the holdout it insists on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF, FIXED_ARCH, TINY_RECIPE, tiny_search
from tests.helpers.sweeps import read_csv, run_train, train_inprocess
from tinynets.models.searchable import searchable, searchable_params, searchable_sep

pytestmark = pytest.mark.usefixtures("one_thread")


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


@pytest.mark.parametrize("c1, c2, width, blocks", [(8, 16, 24, 4), (4, 12, 18, 5), (6, 8, 16, 3)])
def test_searchable_sep_size_by_hand(c1, c2, width, blocks):
    """Stem convs (no bias) + BN; per separable block a depthwise 3x3, a 1x1 and BN; the 1x1 head."""
    stem = 9 * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2
    blocks_total = sum(9 * ci + ci * width + 2 * width for ci in [c2] + [width] * (blocks - 1))
    net = searchable_sep(c1, c2, width, blocks)
    assert net.num_params == stem + blocks_total + 10 * width
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_searchable_sep_as_configured_is_sep(make_cfg):
    """conf/model/searchable_sep.yaml's defaults build model=sep weight for weight."""
    nets = []
    for model in ("searchable_sep", "sep"):
        torch.manual_seed(0)
        nets.append(instantiate(make_cfg(f"model={model}").model.net))
    a, b = (n.state_dict() for n in nets)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match=r"^model.net.blocks=6 is not allowed: must be an integer from 1 to 5"):
        searchable_sep(blocks=6)


def test_frontier_sep_drops_the_inherited_knobs(make_cfg):
    """A null in hydra.sweeper.params drops a key of the search it inherits (frontier's
    model=searchable knobs), so every key of frontier_sep's space exists in its config."""
    from tinynets.search.space import parse_overrides

    cfg = make_cfg("hparams_search=frontier_sep")
    params = cfg.hydra.sweeper.params
    space, _ = parse_overrides([f"{k}={v}" for k, v in params.items() if v is not None])
    assert set(space) == {"model.net.c1", "model.net.c2", "model.net.width", "model.net.blocks", "dropout.p", "lr"}
    assert all(OmegaConf.select(cfg, k, default=None) is not None for k in space)


# ----------------------------------------------------------------------------- the sampler, no training
def arch_space(cfg):
    from tinynets.search.space import parse_overrides

    space, _ = parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    return space


@pytest.mark.parametrize("sampler", ["tpe", "nsgaii"])
def test_budget_sampler_spends_every_trial_inside_max_params(make_cfg, sampler):
    """arch_search's space at max_params=6000 (22% of it fits): 30 trials of the budget-aware
    sampler all fit; the same base sampler drawing blind does not."""
    import optuna
    from hydra.utils import instantiate as build

    from tinynets.search.space import BudgetSampler, ParamCounter

    cfg = make_cfg("hparams_search=frontier", f"hydra/sweeper/sampler={sampler}")
    space, count = arch_space(cfg), ParamCounter(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))

    def run(draws):
        budget = BudgetSampler(lambda s: build(cfg.hydra.sweeper.sampler, seed=s), 0, space, count, 6000, draws)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=budget)
        sizes = []
        for _ in range(30):
            t = study.ask(fixed_distributions=space)
            n = count(t.params)
            sizes.append(n)
            t.set_constraint("over_max_params", n - 6000)
            study.tell(t, [n / 100.0, n])  # bigger is better here: the pull is towards the budget's edge
        return sizes

    fitted = run(200)
    assert max(fitted) <= 6000 and len(set(fitted)) > 10
    assert sum(n > 6000 for n in run(0)) >= 10  # blind: most of the space is over budget


def test_each_trial_draws_with_its_own_seed(make_cfg):
    """seed + trial number: the same study history gives the same trials (a resumed study or a
    second process does not replay the first trials' draws, and a re-run reproduces them)."""
    import optuna
    from hydra.utils import instantiate as build

    from tinynets.search.space import BudgetSampler, ParamCounter

    cfg = make_cfg("hparams_search=arch_search")
    space, count = arch_space(cfg), ParamCounter(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))

    def draws(seed):
        sampler = BudgetSampler(lambda s: build(cfg.hydra.sweeper.sampler, seed=s), seed, space, count, 20_000, 200)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        return [study.ask(fixed_distributions=space).params for _ in range(3)]

    first = draws(0)
    assert draws(0) == first and first[0] != first[1] != first[2] and draws(1)[0] == first[1]


def test_smallest_architecture_of_the_space(make_cfg):
    """The budget check's shortcut (numeric knobs at their lowest, every combination of the
    others) against brute force over a narrowed space."""
    import itertools

    from tinynets.search.space import ParamCounter, parse_overrides, smallest

    cfg = make_cfg("hparams_search=arch_search")
    space, _ = parse_overrides(["model.net.c1=choice(6,4,8)", "model.net.c2=choice(10,8)", "model.net.c3=choice(8,12)",
                                "model.net.n1=choice(2,1)", "model.net.n3=choice(1,2)",
                                "model.net.transition=choice(true,false)", "model.net.head=choice(gap_conv,gap_fc)",
                                "lr=tag(log,interval(0.01,0.1))"])
    count = ParamCounter(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    arch = {k: d.choices for k, d in space.items() if k.startswith("model.")}
    brute = min(count(dict(zip(arch, combo))) for combo in itertools.product(*arch.values()))
    n, params = smallest(space, count)
    assert n == brute == by_hand(4, 8, 8, 1, 2, 1, params["model.net.transition"], params["model.net.head"])


# ----------------------------------------------------------------------------- searches, tiny data
# the space narrowed: c3 in {8, 16, 256} (256 channels is far over 20k params), the rest fixed
SMALL = (*FIXED_ARCH, "model.net.c2=8", *TINY_RECIPE,
         "model.net.c3=choice(8,16,256)", "hydra.sweeper.sampler.seed=3", "data.val_split=64")
tiny_args = tiny_search


def load_study(sweep, name="arch_search"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep}/optuna.db")


def metrics(sweep, number):
    return json.loads((sweep / f"trial={number}" / "metrics.json").read_text())


@pytest.mark.slow
def test_search_trains_inside_the_budget_and_resumes(tmp_path, tiny_mnist):
    from optuna.trial import TrialState

    sweep = tmp_path / "search"
    args = (*tiny_args(tiny_mnist, sweep), *SMALL)
    code, err = train_inprocess(*args, "hydra.sweeper.n_trials=3")
    assert code == 0, err
    trials = load_study(sweep).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # c3=256 is never drawn for training
    assert {t.params["model.net.c3"] for t in trials} <= {8, 16}
    for t in trials:
        m = metrics(sweep, t.number)
        assert t.value == pytest.approx(m["best_val_acc"]) and t.user_attrs["params"] == m["params"] <= 20_000
        assert m["status"] == "ok" and m["eval_set"] == "holdout"
        assert t.intermediate_values == {1: pytest.approx(m["val_acc"][0])}  # reported per epoch
        assert t.user_attrs["owner"] == f"{socket.gethostname()}:{__import__('os').getpid()}"

    rows = read_csv(sweep / "leaderboard.csv")
    assert [r["job"] for r in rows] == [f"trial={t.number}" for t in sorted(
        trials, key=lambda t: (-t.value, f"trial={t.number}"))]
    for r in rows:  # the sampled value is a column of its own
        assert r["model.net.c3"] == str(trials[int(r["job"].removeprefix("trial="))].params["model.net.c3"])
    assert "model.net.c1" not in rows[0] and "lr" not in rows[0]  # fixed by the command: said once, above
    md = (sweep / "leaderboard.md").read_text()
    assert "Every job: `hparams_search=arch_search debug=fast" in md and " model.net.c1=4 " in md
    assert "| model.net.c3 |" in md

    # best_model.yaml: a drop-in conf/model/ file that builds the best trial's network
    best = max(trials, key=lambda t: t.value)
    drop_in = OmegaConf.load(sweep / "best_model.yaml")
    assert drop_in._target_ == "tinynets.models.classifier.Classifier"
    assert OmegaConf.to_container(drop_in.net)["dropout"] == "${dropout.rate}"  # dropout=... still sets it
    as_used = OmegaConf.merge({"dropout": {"rate": 0.05}}, {"model": drop_in})  # as conf/model/NAME.yaml
    assert instantiate(as_used.model.net).num_params == metrics(sweep, best.number)["params"]
    first = {p: p.stat().st_mtime_ns for p in sweep.glob("trial=*/metrics.json")}

    # an interrupted run left trial 3 RUNNING (its process is gone): the same command with a budget of 5
    # fails it, runs its parameters again (the retry does not count against the budget), then goes on
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    study = load_study(sweep)
    study.enqueue_trial({"model.net.c3": 8})
    stale = study.ask(fixed_distributions={"model.net.c3": trials[0].distributions["model.net.c3"]})
    stale.set_user_attr("owner", f"{socket.gethostname()}:{gone.pid}")
    code, err = train_inprocess(*args, "hydra.sweeper.n_trials=5")
    assert code == 0, err
    trials = load_study(sweep).trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5]
    assert trials[3].state == TrialState.FAIL and trials[4].state == TrialState.COMPLETE
    assert trials[4].params == {"model.net.c3": 8} and trials[4].system_attrs["failed_trial"] == 3
    assert trials[5].state == TrialState.COMPLETE  # the sampler goes on (trial 5 draws with seed 3 + 5)
    assert {p: p.stat().st_mtime_ns for p in first} == first
    assert len(read_csv(sweep / "leaderboard.csv")) == 5  # trial 3 never started a job

    # ... but another search does not resume it (here: another fixed lr)
    code, err = train_inprocess(*args, "lr=0.1", "hydra.sweeper.n_trials=1")
    assert code == 2 and err.strip().startswith("error: hydra.sweeper.study_name='arch_search' is not allowed: "
                                                "the study in sqlite:///") and "(fixed: " in err
    assert len(load_study(sweep).trials) == 6


def test_grid_over_budget_and_failed_trials(tmp_path, tiny_mnist):
    """Samples still over budget (the grid sampler tries every combination) are pruned before
    training with their count; a trial whose job fails is FAIL and the search goes on (exit 1)."""
    from optuna.trial import TrialState

    sweep = tmp_path / "search"
    code, err = train_inprocess(*tiny_args(tiny_mnist, sweep), *SMALL[:-3], "hydra/sweeper/sampler=grid",
                                "model.net.c3=choice(8,256)", "model.net.head=choice(gap_conv,bogus)",
                                "data.val_split=64", "hydra.sweeper.n_trials=10")
    assert code == 1 and "2 of 4 jobs failed" in err
    trials = load_study(sweep).trials
    assert len(trials) == 4  # the grid's size, not n_trials
    by = {(t.params["model.net.c3"], t.params["model.net.head"]): t for t in trials}
    assert by[8, "gap_conv"].state == TrialState.COMPLETE
    over = by[256, "gap_conv"]
    assert over.state == TrialState.PRUNED and not over.intermediate_values and over.constraints["over_max_params"] > 0
    m = metrics(sweep, over.number)
    assert m["status"] == "pruned" and m["error"] == f"over max_params ({m['params']:,} params > 20,000)"
    assert "history" not in m and not (sweep / f"trial={over.number}" / "checkpoints").exists()
    for c3 in (8, 256):
        t = by[c3, "bogus"]
        assert t.state == TrialState.FAIL and metrics(sweep, t.number)["status"] == "failed"
        assert t.user_attrs["status"].startswith("failed: model.net.head='bogus' is not allowed")  # the reason
    rows = {r["job"]: r for r in read_csv(sweep / "leaderboard.csv")}
    assert rows[f"trial={over.number}"]["status"].startswith("pruned: over max_params (")
    assert rows[f"trial={by[8, 'bogus'].number}"]["status"] == ("failed: model.net.head='bogus' is not allowed: "
                                                          "must be one of gap_conv, gap_fc")


def test_a_resumed_grid_search_does_not_repeat_finished_points(tmp_path, tiny_mnist):
    """A grid of 3 points run with a budget of 1, then the same command with 3: the two new trials
    are the two points not yet run, and the first trial's job is not run again."""
    sweep = tmp_path / "search"
    args = (*tiny_args(tiny_mnist, sweep), *SMALL[:-3], "hydra/sweeper/sampler=grid", "model.net.c3=choice(8,12,16)",
            "data.val_split=64")
    assert train_inprocess(*args, "hydra.sweeper.n_trials=1")[0] == 0
    first = (sweep / "trial=0" / "metrics.json").stat().st_mtime_ns
    code, err = train_inprocess(*args, "hydra.sweeper.n_trials=3")
    assert code == 0, err
    trials = load_study(sweep).trials
    assert len(trials) == 3 and sorted(t.params["model.net.c3"] for t in trials) == [8, 12, 16]
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert (sweep / "trial=0" / "metrics.json").stat().st_mtime_ns == first


def test_the_pruner_stops_a_weak_trial(tmp_path, tiny_mnist):
    """A ThresholdPruner asking for more than 100% prunes every trial at its first report."""
    sweep = tmp_path / "search"
    code, err = train_inprocess(*tiny_args(tiny_mnist, sweep), "trainer.max_epochs=3", *SMALL[:-3], "model.net.c3=8",
                                "data.val_split=64", "hydra/sweeper/pruner=threshold",
                                "hydra.sweeper.pruner.lower=101", "hydra.sweeper.n_trials=1")
    assert code == 0, err
    (trial,) = load_study(sweep).trials
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]
    m = metrics(sweep, 0)
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
    from tinynets.errors import ConfigError
    from tinynets.search.trial import check_holdout

    check_holdout(make_cfg("hparams_search=arch_search"))
    with pytest.raises(ConfigError, match=r"^data.val_split=0 is not allowed"):
        check_holdout(make_cfg("hparams_search=arch_search", "data.val_split=0"))


# ----------------------------------------------------------------------------- points tried first
SEARCHES = sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml"))


@pytest.mark.parametrize("name", SEARCHES)
def test_every_search_searches_keys_it_has_and_enqueues_points_inside_its_space(make_cfg, name):
    """Each conf/hparams_search/ study: every searched key exists in its composed config, and each
    point of hydra.sweeper.enqueue is inside the space (Optuna's own values) and the param budget."""
    from tinynets.search.space import ParamCounter, enqueue_points, parse_overrides

    cfg = make_cfg(f"hparams_search={name}")
    space, fixed = parse_overrides([f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items() if v is not None])
    assert all(OmegaConf.select(cfg, k, default=None) is not None for k in space), name
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    for point in enqueue_points(OmegaConf.to_container(cfg.hydra.sweeper.enqueue), space):
        assert all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in point.items()), point
        if any(k.startswith("model.") for k in point):
            assert ParamCounter(task, fixed)(point) <= cfg.max_params, point


def test_enqueued_points_outside_the_space_are_one_error_naming_the_key(make_cfg):
    """hydra.sweeper.enqueue: step four's first point comes out as the space's own values (a choice's
    int, its string, a float in its interval); a key outside the space or a value outside its
    distribution is one ConfigError naming the point and the key."""
    from tinynets.errors import ConfigError
    from tinynets.search.space import enqueue_points, parse_overrides

    cfg = make_cfg("hparams_search=frontier_robust_sep_avg")
    space, _ = parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items() if v is not None])
    points = enqueue_points(OmegaConf.to_container(cfg.hydra.sweeper.enqueue), space)
    assert points[0] == {"model.net.c2": 16, "model.net.width": 22, "model.net.blocks": 4, "data.batch_size": 64,
                         "averaging": "ema", "lr": 0.2471, "dropout.p": 0.04376}
    for bad, line in [({"lr": 0.5}, "hydra.sweeper.enqueue[0].lr=0.5 is not allowed: a number in [0.15, 0.35]"),
                      ({"averaging": "swa"}, "hydra.sweeper.enqueue[0].averaging='swa' is not allowed: one of none, ema"),
                      ({"model.net.c9": 1}, "hydra.sweeper.enqueue[0].model.net.c9=1 is not allowed: a searched key: ")]:
        with pytest.raises(ConfigError) as e:
            enqueue_points([bad], space)
        assert str(e.value).startswith(line), str(e.value)


# ----------------------------------------------------------------------------- another worker's job
def test_a_job_another_live_worker_trains_is_running_not_killed(tmp_path):
    """A worker that ends first writes the leaderboard while its sibling still trains a job: that job
    (its running marker naming a live process of this host) is running, and no failure; once the
    process is gone without a record it is killed; its record replaces the marker."""
    from tinynets.run.metrics import KILLED, MARKER, RUNNING, mark_running, write_metrics
    from tinynets.search.leaderboard import NOT_OK, collect

    job = tmp_path / "trial=0" / "seed=1"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mark_running(job)
        marker = json.loads((job / MARKER).read_text())
        (job / MARKER).write_text(json.dumps({**marker, "pid": sibling.pid}))
        [row] = collect(tmp_path)
        assert row["status"] == RUNNING and row["status"] not in NOT_OK and str(sibling.pid) in row["reason"]
        (job / MARKER).write_text(json.dumps({**marker, "pid": sibling.pid, "host": "elsewhere"}))
        assert collect(tmp_path)[0]["status"] == KILLED  # another host's process: not ours to see
        (job / MARKER).write_text(json.dumps({**marker, "pid": sibling.pid}))
    finally:
        sibling.kill()
        sibling.wait()
    assert collect(tmp_path)[0]["status"] == KILLED
    write_metrics(job, {"status": "ok", "overrides": ["seed=1"]})
    assert not (job / MARKER).exists() and collect(tmp_path)[0]["status"] == "ok"
