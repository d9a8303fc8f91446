"""The search beyond one process and one objective: hparams_search=frontier's Pareto outputs, two
search processes sharing a study through one journal file (one with joblib-parallel trials), the
live dashboard, and the search's bad inputs (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import FIXED, ROOT, cli_env, tiny_search
from tests.helpers.sweeps import read_csv, train_inprocess

pytestmark = pytest.mark.usefixtures("one_thread")

def tiny_args(tiny_mnist, sweep, search):
    return tiny_search(tiny_mnist, sweep, search, *FIXED)


def dominated(a, b) -> bool:
    """b dominates a: accuracy at least as high, params at most as many, one strictly."""
    return b[0] >= a[0] and b[1] <= a[1] and b != a


@pytest.mark.slow
def test_frontier_writes_the_pareto_front(tmp_path, tiny_mnist):
    import optuna

    sweep = tmp_path / "frontier"
    code, err = train_inprocess(*tiny_args(tiny_mnist, sweep, "frontier"), "model.net.c2=choice(8,12,16)",
                                "model.net.c3=choice(8,16,24)", "hydra.sweeper.n_trials=4")
    assert code == 0, err
    study = optuna.load_study(study_name="frontier", storage=f"sqlite:///{sweep}/optuna.db")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["best_val_acc", "params"]
    points = {}
    for t in study.trials:
        m = json.loads((sweep / f"trial={t.number}" / "metrics.json").read_text())
        assert t.state.name == "COMPLETE" and t.values == [pytest.approx(m["best_val_acc"]), m["params"]]
        points[t.number] = (m["best_val_acc"], m["params"])
    front = {n for n, p in points.items() if not any(dominated(p, q) for q in points.values())}

    rows = read_csv(sweep / "pareto.csv")
    assert list(rows[0])[:3] == ["trial", "params", "best_val_acc"]
    assert set(list(rows[0])[3:]) == {"model.net.c2", "model.net.c3"}  # each sampled value its own column
    assert {int(r["trial"]) for r in rows} == front
    assert [int(r["params"]) for r in rows] == sorted(int(r["params"]) for r in rows)
    md = (sweep / "pareto.md").read_text()
    assert md.count("\n| ") == len(rows) + 1 and "pareto.png" in md
    png = (sweep / "pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert {p.name for p in (sweep / "front").iterdir()} == {f"trial={n}.yaml" for n in front}
    for r in rows:  # each front member is a drop-in conf/model/ file that builds its network
        drop_in = OmegaConf.load(sweep / "front" / f"trial={r['trial']}.yaml")
        net = instantiate(OmegaConf.merge({"dropout": {"rate": 0.0}}, {"model": drop_in}).model.net)
        assert net.num_params == int(r["params"]) and drop_in.net.c3 == int(r["model.net.c3"])
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    assert {f["trial"] for f in results.front} == front
    # a search never looks at the test set: no trial ran a test pass, the leaderboard's column is empty
    for n in points:
        assert json.loads((sweep / f"trial={n}" / "metrics.json").read_text())["test_acc"] is None
    assert {r["test_acc"] for r in read_csv(sweep / "leaderboard.csv")} == {""}
    dashboard_shows(sweep / "optuna.db", study, front)


def dashboard_shows(db: Path, study, front: set[int]) -> None:
    """optuna-dashboard (installed with tinynets) on the search's own sqlite file: the study, its
    objectives' names and each trial's params and job dir, as tinynets' sweeper recorded them."""
    port = free_port()
    exe = Path(sys.executable).parent / "optuna-dashboard"
    proc = subprocess.Popen([str(exe), f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def get(path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return json.loads(r.read())

    try:
        deadline, body = time.time() + 90, None
        while body is None and time.time() < deadline and proc.poll() is None:
            try:
                body = get("/api/studies")
            except OSError:
                time.sleep(0.5)
        assert body is not None, proc.stderr.read() if proc.poll() is not None else "no answer in 90 s"
        (summary,) = body["study_summaries"]
        assert summary["study_name"] == "frontier" and summary["directions"] == ["maximize", "minimize"]
        detail = get(f"/api/studies/{summary['study_id']}?after=0")
        assert detail["objective_names"] == ["best_val_acc", "params"]  # set by the sweeper (set_metric_names)
        shown = {t["number"]: {a["key"]: a["value"] for a in t["user_attrs"]} for t in detail["trials"]}
        assert set(shown) == {t.number for t in study.trials}
        for n, attrs in shown.items():
            assert attrs["params"] == str(study.trials[n].user_attrs["params"]) and attrs["job_dir"].endswith(f"trial={n}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_two_processes_share_one_journal(tmp_path, tiny_mnist):
    """The SLURM recipe on one machine: two search processes at once on one journal file, one of
    them running its trials two at a time through joblib. The budget is the study's: together they
    finish exactly n_trials=4 trials, distinct numbers, each run by exactly one process."""
    import optuna

    journal = tmp_path / "shared" / "journal.log"
    common = ("-m", *tiny_args(tiny_mnist, "X", "arch_search")[:-len(FIXED)], *FIXED,
              "model.net.c2=choice(8,12,16)", "model.net.c3=choice(8,16,24)", f"hydra.sweeper.storage=journal:{journal}",
              "hydra.sweeper.n_trials=4")
    common = tuple(a for a in common if a != "hydra.sweep.dir=X")
    procs = {
        "a": subprocess.Popen([sys.executable, str(ROOT / "train.py"), *common, f"hydra.sweep.dir={tmp_path / 'a'}",
                               "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"],
                              cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "b": subprocess.Popen([sys.executable, str(ROOT / "train.py"), *common, f"hydra.sweep.dir={tmp_path / 'b'}"],
                              cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    outs = {k: p.communicate(timeout=600) for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, outs[k][1][-3000:]

    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="arch_search", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert sorted(t.number for t in study.trials) == list(range(4))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    mine = {k: {int(d.name.removeprefix("trial=")) for d in (tmp_path / k).glob("trial=*")} for k in "ab"}
    assert not mine["a"] & mine["b"] and mine["a"] | mine["b"] == set(range(4))
    owners = {k: {study.trials[n].user_attrs["owner"] for n in mine[k]} for k in "ab"}
    assert all(len(o) <= 1 for o in owners.values()) and not owners["a"] & owners["b"]
    if mine["a"]:
        sweeper_pid = int(next(iter(owners["a"])).rpartition(":")[2])
        job_pids = {json.loads((tmp_path / "a" / f"trial={n}" / "metrics.json").read_text())["pid"] for n in mine["a"]}
        assert sweeper_pid not in job_pids  # joblib ran a's trials in worker processes
    # each process's leaderboard covers its own jobs; the study holds all
    for k in "ab":
        if mine[k]:
            assert {r["job"] for r in read_csv(tmp_path / k / "leaderboard.csv")} == {f"trial={n}" for n in mine[k]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- bad input
def refused(tmp_path, tiny_mnist, *args: str, search="frontier") -> str:
    sweep = tmp_path / "sweep"
    code, err = train_inprocess(*tiny_args(tiny_mnist, sweep, search), *args, "hydra.sweeper.n_trials=1")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not sweep.exists()  # nothing written
    return err.strip()


def test_unknown_storage_scheme(tmp_path, tiny_mnist):
    assert refused(tmp_path, tiny_mnist, "hydra.sweeper.storage=redis://localhost/0") == (
        "error: hydra.sweeper.storage='redis://localhost/0' is not allowed: must be an Optuna RDB URL "
        "(sqlite:///<file>, postgresql+psycopg://user@host/db, mysql://...) or journal:<file> (Optuna's JournalStorage, "
        "a file on a shared file system)")


def test_study_with_other_directions(tmp_path, tiny_mnist):
    import optuna

    db = f"sqlite:///{tmp_path / 'db' / 'optuna.db'}"
    (tmp_path / "db").mkdir()
    optuna.create_study(study_name="frontier", storage=db, direction="maximize")
    assert refused(tmp_path, tiny_mnist, f"hydra.sweeper.storage={db}") == (
        f"error: hydra.sweeper.study_name='frontier' is not allowed: the study in {db} has directions maximize, "
        "this search maximize, minimize: choose another study_name")


def test_search_parameter_that_is_not_a_key(tmp_path, tiny_mnist):
    assert refused(tmp_path, tiny_mnist, "model.net.c9=choice(1,2)") == (
        "error: model.net.c9='choice(1,2)' is not allowed: model.net.c9 is not a key of the config "
        "(a typo? to add a new key: +model.net.c9=...)")


def test_budget_no_architecture_can_meet(tmp_path, tiny_mnist):
    """arch_search's whole space (the command fixes nothing of the model): its smallest is 1,020 params."""
    sweep = tmp_path / "sweep"
    code, err = train_inprocess("hparams_search=frontier", "max_params=1000", f"hydra.sweep.dir={sweep}",
                                "hydra.sweeper.n_trials=1")
    assert code == 2 and not sweep.exists()
    assert err.strip() == (
        "error: max_params=1000 is not allowed: no architecture in the search space fits: the smallest has 1,020 "
        "params (model.net.c1=4 model.net.c2=8 model.net.c3=8 model.net.n1=1 model.net.n2=1 model.net.n3=1 "
        "model.net.transition=false model.net.head=gap_conv)")
