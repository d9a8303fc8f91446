"""Seed-robust trials (tinynets.search.seeds, study.next_job) on a real (sqlite) storage, without
training: the seed jobs of a trial are handed out before a new trial (no barrier), a seed whose worker
is gone is handed out again, a done seed never is, and the last seed tells the trial the mean."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest

from tinynets.errors import ConfigError
from tinynets.search import seeds
from tinynets.search.storage import open_storage, trial_id
from tinynets.search.study import Ask, budget, next_job, owner, recover

SPACE = {"x": optuna.distributions.CategoricalDistribution([1, 2, 3])}


@pytest.fixture
def study(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    return optuna.create_study(study_name="s", storage=storage), storage, url


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_seeds_setting():
    assert seeds.check_seeds(None) is None
    assert seeds.check_seeds([1, 2, 3]) == [1, 2, 3]
    for bad in ([], [1, 1], [-1], [1.5], "1,2", [True]):
        with pytest.raises(ConfigError, match=r"^hydra\.sweeper\.seeds=.* is not allowed"):
            seeds.check_seeds(bad)


def test_aggregate_is_mean_min_and_sample_spread():
    agg = seeds.aggregate({1: [99.5, 3000.0], 2: [99.3, 3000.0], 3: [99.4, 3000.0]})
    assert agg["mean"] == pytest.approx([99.4, 3000.0])
    assert agg["seed_min"] == [99.3, 3000.0]
    assert agg["seed_spread"] == pytest.approx([0.1, 0.0])  # n-1 standard deviation
    assert agg["seed_values"] == {"1": [99.5, 3000.0], "2": [99.3, 3000.0], "3": [99.4, 3000.0]}
    assert seeds.aggregate({7: [99.0]})["seed_spread"] == [0.0]


def test_a_trials_seeds_go_out_before_a_new_trial_and_the_last_one_completes_it(study):
    s, storage, url = study
    jobs = [next_job(s, storage, url, 2, SPACE, seeds=[1, 2, 3]) for _ in range(4)]
    assert [(w, t.number, seed) for w, t, seed in jobs] == [(Ask.TRIAL, 0, 1), (Ask.TRIAL, 0, 2), (Ask.TRIAL, 0, 3),
                                                            (Ask.TRIAL, 1, 1)]
    assert s.trials[0].user_attrs[seeds.SEEDS_ATTR] == [1, 2, 3]
    tid = trial_id(storage, "s", 0)
    for seed, acc in ((1, 99.5), (3, 99.4)):
        seeds.record_done(storage, tid, seed, [acc, 3000.0], f"trial=0/seed={seed}")
        assert seeds.finish(storage, tid) is None  # seeds missing: nothing told yet
    seeds.record_done(storage, tid, 2, [99.3, 3000.0], "trial=0/seed=2")
    agg = seeds.finish(storage, tid)
    assert agg["mean"] == pytest.approx([99.4, 3000.0])
    assert s.trials[0].user_attrs["seed_min"] == [99.3, 3000.0]
    assert s.trials[0].user_attrs["seed_spread"] == pytest.approx([0.1, 0.0])


def test_a_seed_whose_worker_is_gone_goes_out_again_a_done_one_never(study):
    s, storage, url = study
    _, t, first = next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=60)
    _, _, second = next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=60)
    assert (first, second) == (1, 2)
    tid = trial_id(storage, "s", t.number)
    assert next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=60) == (Ask.WAIT, None, None)  # both held
    # seed 1's worker died on this host; seed 2's is silent on another host, but not for long
    host = owner().rpartition(":")[0]
    storage.set_trial_user_attr(tid, "seed=1", {"state": "running", "owner": f"{host}:{dead_pid()}",
                                                "beat": time.time()})
    storage.set_trial_user_attr(tid, "seed=2", {"state": "running", "owner": "other:1", "beat": time.time() - 30})
    what, again, seed = next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=60)
    assert (what, again.number, seed) == (Ask.TRIAL, t.number, 1)  # the same trial, the same seed
    assert next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=60) == (Ask.WAIT, None, None)
    assert next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=10)[2] == 2  # silent past the grace
    seeds.record_done(storage, tid, 1, [99.0], "d")
    storage.set_trial_user_attr(tid, "seed=2", {"state": "done", "values": [98.0], "job_dir": "d"})
    assert next_job(s, storage, url, 1, SPACE, seeds=[1, 2], grace=0) == (Ask.WAIT, None, None)


def test_a_retried_trial_keeps_its_done_seeds(study):
    """Every worker of a trial died: the trial is failed and retried; the retry trains only the seeds not done."""
    s, storage, url = study
    _, t, _ = next_job(s, storage, url, 1, SPACE, seeds=[1, 2, 3])
    tid = trial_id(storage, "s", t.number)
    seeds.record_done(storage, tid, 1, [99.0], "trial=0/seed=1")
    host = owner().rpartition(":")[0]
    storage.set_trial_user_attr(tid, "owner", f"{host}:{dead_pid()}")
    storage.set_trial_user_attr(tid, "seed=2", {"state": "running", "owner": f"{host}:{dead_pid()}", "beat": 0})
    assert recover(s, url, max_retry=2, grace=0) == [t.number]
    got = [next_job(s, storage, url, 1, SPACE, seeds=[1, 2, 3]) for _ in range(3)]
    assert [(g[1].number if g[1] else None, g[2]) for g in got] == [(1, 2), (1, 3), (None, None)]
    assert s.trials[1].params == t.params and budget(s).lineages == 1


def test_without_seeds_a_job_is_a_trial(study):
    s, storage, url = study
    what, t, seed = next_job(s, storage, url, 1, SPACE)
    assert what is Ask.TRIAL and seed is None and seeds.SEEDS_ATTR not in s.trials[t.number].user_attrs


def test_a_trial_whose_asker_died_lives_on_while_a_live_worker_trains_one_of_its_seeds(study):
    s, storage, url = study
    _, t, _ = next_job(s, storage, url, 1, SPACE, seeds=[1, 2])
    _, _, seed = next_job(s, storage, url, 1, SPACE, seeds=[1, 2])  # this (live) process holds seed 2
    tid = trial_id(storage, "s", t.number)
    host = owner().rpartition(":")[0]
    storage.set_trial_user_attr(tid, "owner", f"{host}:{dead_pid()}")  # the worker that asked it, and held seed 1, died
    storage.set_trial_user_attr(tid, "seed=1", {"state": "running", "owner": f"{host}:{dead_pid()}", "beat": 0})
    assert seed == 2 and recover(s, url, max_retry=2, grace=60) == []
    assert next_job(s, storage, url, 1, SPACE, seeds=[1, 2])[2] == 1  # its dead seed goes out again instead
    storage.set_trial_user_attr(tid, "seed=2", {"state": "done", "values": [1.0], "job_dir": "d"})
    storage.set_trial_user_attr(tid, "seed=1", {"state": "running", "owner": f"{host}:{dead_pid()}", "beat": 0})
    assert recover(s, url, max_retry=2, grace=60) == [t.number]  # nobody left on it: failed, and retried


def test_a_seed_job_beats_on_a_storage_without_trial_heartbeats(tmp_path):
    """A journal file keeps no trial heartbeat: the seed's own beat runs anyway, so that another worker
    does not take a seed that is still training; once settled it beats no more."""
    url = f"journal:{tmp_path / 'study.journal'}"
    storage = open_storage(url)
    s = optuna.create_study(study_name="j", storage=storage)
    _, t, seed = next_job(s, storage, url, 1, SPACE, seeds=[1, 2])
    tid = trial_id(storage, "j", t.number)
    jobs = seeds.SeedJobs(storage, owner(), interval=0.5)
    claimed = storage.get_trial(tid).user_attrs["seed=1"]["beat"]
    jobs.start(tid, seed)
    time.sleep(1.6)
    assert storage.get_trial(tid).user_attrs["seed=1"]["beat"] > claimed + 0.9
    assert seeds.open_seed(storage.get_trial(tid), time.time(), 1.0, lambda pid: True) == 2  # seed 1 is held
    assert jobs.settle(tid, seed, [99.0], "d") is None  # seed 2 still to do
    time.sleep(1.1)
    assert storage.get_trial(tid).user_attrs["seed=1"]["state"] == "done"  # no beat after it: still done
    jobs.stop()


def test_a_seed_job_learns_that_another_seed_ended_its_trial(tmp_path):
    """A pruned seed ends its trial: the other seeds' beats see it and stop their jobs (whatever the storage)."""
    url = f"journal:{tmp_path / 'study.journal'}"
    storage = open_storage(url)
    s = optuna.create_study(study_name="j", storage=storage)
    _, t, seed = next_job(s, storage, url, 1, SPACE, seeds=[1, 2])
    tid, told = trial_id(storage, "j", t.number), []
    jobs = seeds.SeedJobs(storage, owner(), interval=0.3)
    jobs.start(tid, seed, told.append)
    time.sleep(0.8)
    assert told == []  # running: nothing to say
    s.tell(t.number, state=optuna.trial.TrialState.PRUNED)  # its other seed fell below the floor
    time.sleep(1.0)
    assert len(told) == 1 and "PRUNED" in told[0]
    jobs.stop()
