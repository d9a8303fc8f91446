"""Search workers on one study (tinynets.search.workers, .study, .storage): the budget belongs to the
study, a worker killed mid-trial loses no trial (its trial fails, is retried by a survivor, and the
study ends with exactly n_trials finished trials, none RUNNING), and on each storage what it can and
cannot promise; the PostgreSQL password never reaches an output. The PostgreSQL tests need the live
server of scripts/local-cluster (CI starts it; elsewhere they skip with the reason)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import FIXED, ROOT, cli_env, tiny_search
from tests.helpers.cluster import postgres_url

pytestmark = pytest.mark.slow

def search_args(tiny_mnist, sweep, n_trials: int, *extra: str) -> list[str]:
    return [*tiny_search(tiny_mnist, sweep, "frontier", *FIXED), "model.net.c2=choice(8,12,16)",
            "model.net.c3=choice(8,16,24)", f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.heartbeat_interval=1",
            "hydra.sweeper.grace_period=4", *extra]


def worker(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tinynets.run", "-m", *args, "hydra.sweeper.n_jobs=1"], cwd=ROOT,
                            env=cli_env(**env), stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def load_study(storage: str, name: str):
    import optuna

    from tinynets.search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(storage))


def finished_lineages(study):
    from tinynets.search.study import budget

    return budget(study)


def kill_one_mid_trial(procs: dict[str, subprocess.Popen], beacon: Path, timeout: float = 240) -> str:
    """Wait until a worker is inside a trial's training, then SIGKILL it (its whole process group)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = beacon.read_text().split("\n") if beacon.exists() else []
        pids = {int(line.split()[0]) for line in lines if line.strip()}
        for name, p in procs.items():
            if p.pid in pids:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
                return name
        time.sleep(0.2)
    raise AssertionError(f"no worker started training in {timeout:.0f} s")


def run_kill_scenario(tmp_path, tiny_mnist, storage_args: list[str], n_trials: int = 3, **env: str):
    """Two workers on one study; one SIGKILLed in its first trial; the survivor finishes. Returns the study."""
    sweep, beacon = tmp_path / "sweep", tmp_path / "beacon"
    args = search_args(tiny_mnist, sweep, n_trials, "trainer.max_epochs=2",
                       f"+callbacks.beacon={{_target_: tests.helpers.throttle.Beacon, path: {beacon}, sleep: 0.4}}",
                       *storage_args)
    procs = {"a": worker(args, tmp_path / "a.log", **env), "b": worker(args, tmp_path / "b.log", **env)}
    killed = kill_one_mid_trial(procs, beacon)
    survivor = procs["b" if killed == "a" else "a"]
    assert survivor.wait(timeout=600) == 0, (tmp_path / f"{'b' if killed == 'a' else 'a'}.log").read_text()[-3000:]
    return survivor


def assert_no_trial_lost(study, n_trials: int) -> None:
    from optuna.trial import TrialState

    b = finished_lineages(study)
    assert (b.lineages, b.finished, b.running, b.waiting) == (n_trials, n_trials, 0, 0), b
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    retries = [t for t in study.trials if "failed_trial" in t.system_attrs]
    assert failed and retries, [(t.number, t.state.name) for t in study.trials]
    for r in retries:  # the lineage: the retry names the trial it replaces, which failed, with the same point
        original = study.trials[r.system_attrs["failed_trial"]]
        assert original.state == TrialState.FAIL and original.params == r.params
        assert r.state in (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.mark.postgresql
def test_two_workers_on_postgresql_lose_no_trial_when_one_is_killed(tmp_path, tiny_mnist):
    url = postgres_url()
    name = f"kill_{uuid.uuid4().hex[:8]}"
    run_kill_scenario(tmp_path, tiny_mnist, ["hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}",
                                              f"hydra.sweeper.study_name={name}"], TINYNETS_STORAGE=url)
    assert_no_trial_lost(load_study(url, name), 3)


def test_sqlite_on_one_machine_promises_the_same(tmp_path, tiny_mnist):
    """sqlite keeps heartbeats too: the killed worker's trial goes stale, fails, and is retried."""
    run_kill_scenario(tmp_path, tiny_mnist, [])
    assert_no_trial_lost(load_study(f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}", "frontier"), 3)


def test_journal_recovers_only_trials_of_its_own_host(tmp_path, tiny_mnist):
    """A journal file keeps no heartbeat: a worker recovers a trial only where it can tell the process
    that ran it is gone (its own host). A trial left RUNNING by another host stays RUNNING."""
    journal = tmp_path / "shared" / "study.journal"
    run_kill_scenario(tmp_path, tiny_mnist, [f"hydra.sweeper.storage=journal:{journal}"])
    study = load_study(f"journal:{journal}", "frontier")
    assert_no_trial_lost(study, 3)

    # what it cannot promise: a trial whose process ran elsewhere is never failed from here
    trial = study.ask()
    trial.set_user_attr("owner", "another-host:4242")
    from tinynets.search.study import recover

    assert recover(study, f"journal:{journal}", max_retry=2) == []
    assert study.trials[trial.number].state.name == "RUNNING"


def test_the_budget_is_the_studys_and_a_rerun_adds_nothing(tmp_path, tiny_mnist):
    """`python -m tinynets.search.workers 2`: five trials in all, not five each; the same command
    again finds the budget spent and starts no trial."""
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "tinynets.search.workers", "2", *search_args(tiny_mnist, sweep, 5)]
    for _ in range(2):
        done = subprocess.run(cmd, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "[worker 0] exit 0" in done.stdout and "[worker 1] exit 0" in done.stdout
        study = load_study(f"sqlite:///{sweep / 'optuna.db'}", "frontier")
        assert len(study.trials) == 5 and all(t.state.name == "COMPLETE" for t in study.trials)
    owners = {t.user_attrs["owner"] for t in study.trials}
    assert len(owners) == 2  # both workers ran trials
    import csv

    with open(sweep / "leaderboard.csv", newline="") as f:  # the leaderboard covers every worker's trials
        assert {r["job"] for r in csv.DictReader(f)} == {f"trial={n}" for n in range(5)}


@pytest.mark.postgresql
def test_no_password_in_any_output_of_a_postgresql_search(tmp_path, tiny_mnist):
    url = postgres_url()
    from sqlalchemy.engine import make_url

    password = make_url(url).password
    assert password and len(password) >= 8
    sweep = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "train.py", "-m", *search_args(tiny_mnist, sweep, 2),
                           "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}",
                           f"hydra.sweeper.study_name=secret_{uuid.uuid4().hex[:8]}", "logger=tensorboard"],
                          cwd=ROOT, env=cli_env(TINYNETS_STORAGE=url), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Study " in done.stdout + done.stderr and "***" in done.stdout + done.stderr  # the URL shown, hidden
    files = [p for p in sweep.rglob("*") if p.is_file()]
    assert any(p.name.startswith("events.out.tfevents") for p in files)
    assert any(p.name == "hydra.yaml" for p in files) and any(p.suffix == ".log" for p in files)
    leaks = [str(p) for p in files if password.encode() in p.read_bytes()]
    assert leaks == [] and password not in done.stdout + done.stderr


def test_a_literal_password_is_refused_and_an_unreachable_server_is_one_line(tmp_path, tiny_mnist):
    sweep = tmp_path / "sweep"
    typed = subprocess.run([sys.executable, "train.py", "-m", *search_args(tiny_mnist, sweep, 1),
                            "hydra.sweeper.storage=postgresql+psycopg://me:hunter22@127.0.0.1:5432/db"],
                           cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert typed.returncode == 2 and typed.stderr.count("\n") == 1 and "hunter22" not in typed.stderr + typed.stdout
    assert typed.stderr.startswith("error: hydra.sweeper.storage='postgresql+psycopg://me:***@127.0.0.1:5432/db' "
                                   "is not allowed: a password must not be typed")
    gone = subprocess.run([sys.executable, "train.py", "-m", *search_args(tiny_mnist, sweep, 1),
                           "hydra.sweeper.storage=${oc.env:TINYNETS_STORAGE}"], cwd=ROOT, timeout=300,
                          env=cli_env(TINYNETS_STORAGE="postgresql+psycopg://me:hunter22@127.0.0.1:9/db"),
                          capture_output=True, text=True)
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "hunter22" not in gone.stderr + gone.stdout
    assert gone.stderr.startswith("error: hydra.sweeper.storage: cannot reach "
                                  "postgresql+psycopg://me:***@127.0.0.1:9/db"), gone.stderr
    unread = subprocess.run([sys.executable, "train.py", "-m", *search_args(tiny_mnist, sweep, 1),
                             "hydra.sweeper.storage=${tinynets.read:$URL_FILE}"], cwd=ROOT, timeout=300,
                            env=cli_env(URL_FILE=str(tmp_path / "missing.url")), capture_output=True, text=True)
    assert unread.returncode == 2 and unread.stderr.count("\n") == 1, unread.stderr
    assert unread.stderr.startswith("error: hydra.sweeper.storage='${tinynets.read:$URL_FILE}' is not allowed: "
                                    f"${{tinynets.read:$URL_FILE}}: cannot read {tmp_path / 'missing.url'}"), unread.stderr


def test_a_floor_stops_weak_trials_of_a_multi_objective_search(tmp_path, tiny_mnist):
    """Optuna's pruners are single-objective; hydra.sweeper.floor stops a frontier trial below it after
    epoch k, recorded as pruned with its epoch."""
    sweep = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "train.py", "-m", *search_args(tiny_mnist, sweep, 2), "trainer.max_epochs=3",
                           "hydra.sweeper.floor={epoch: 1, val_acc: 101}"], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    study = load_study(f"sqlite:///{sweep / 'optuna.db'}", "frontier")
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    import json

    for t in study.trials:
        m = json.loads((sweep / f"trial={t.number}" / "metrics.json").read_text())
        assert (m["status"], m["epochs"]) == ("pruned", 1) and m["error"].startswith("below the floor at epoch 1")
    board = (sweep / "leaderboard.md").read_text()
    assert board.count("pruned: below the floor at epoch 1 (val/acc=") == 2
