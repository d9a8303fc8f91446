"""The study rules of tinynets.search.study on a real (sqlite) storage, without training: which
RUNNING trials `recover` fails, and what `budget` and `next_trial` count."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from tinynets.search.storage import open_storage
from tinynets.search.study import OWNER, Ask, budget, next_trial, owner, recover, retry_of

SPACE = {"x": optuna.distributions.CategoricalDistribution([1, 2, 3])}


@pytest.fixture
def study(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(study_name="s", storage=open_storage(url, heartbeat_interval=1, grace_period=2))
    return s, url


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_trial_nobody_claimed_fails_after_the_grace_period_and_is_retried(study):
    s, url = study
    orphan = s.ask(fixed_distributions=SPACE)  # a process killed between asking and claiming
    assert recover(s, url, max_retry=2, grace=60) == []  # just asked: its process may claim it yet
    assert recover(s, url, max_retry=2, grace=0) == [orphan.number]
    assert s.trials[orphan.number].state.name == "FAIL"
    again = retry_of(s, orphan.number)
    assert again is not None and s.trials[again].state.name == "WAITING"
    assert s.trials[again].system_attrs["failed_trial"] == orphan.number


def test_a_dead_owner_on_this_host_fails_its_trial_a_live_or_foreign_one_does_not(study):
    s, url = study
    mine_dead, mine_alive, foreign = (s.ask(fixed_distributions=SPACE) for _ in range(3))
    host = owner().rpartition(":")[0]
    mine_dead.set_user_attr(OWNER, f"{host}:{dead_pid()}")
    mine_alive.set_user_attr(OWNER, owner())
    foreign.set_user_attr(OWNER, "another-host:1")
    assert recover(s, url, max_retry=0, grace=0) == [mine_dead.number]
    assert [t.state.name for t in s.trials] == ["FAIL", "RUNNING", "RUNNING"]
    assert retry_of(s, mine_dead.number) is None  # max_retry=0: the lineage ends failed


def test_next_trial_serves_a_waiting_retry_first_and_keeps_the_budget(study):
    s, url = study
    claimed = []
    what, first = next_trial(s, url, 2, SPACE, claim=claimed.append)
    assert what is Ask.TRIAL and claimed == [first.number] and first.user_attrs[OWNER] == owner()
    first.set_user_attr(OWNER, f"{owner().rpartition(':')[0]}:{dead_pid()}")  # its process died
    assert recover(s, url, max_retry=2) == [first.number]
    what, retry = next_trial(s, url, 2, SPACE)
    assert what is Ask.TRIAL and retry.params == first.params  # the queued retry before a new draw
    assert s.trials[retry.number].system_attrs["failed_trial"] == first.number
    assert budget(s).lineages == 1
    what, second = next_trial(s, url, 2, SPACE)
    assert what is Ask.TRIAL and "failed_trial" not in s.trials[second.number].system_attrs
    assert next_trial(s, url, 2, SPACE) == (Ask.WAIT, None)  # budget asked, two still running
    assert next_trial(s, url, 2, SPACE, wait=False) == (Ask.DONE, None)
    s.tell(retry.number, 1.0)
    s.tell(second.number, 2.0)
    b = budget(s)
    assert (b.lineages, b.finished, b.running, b.waiting) == (2, 2, 0, 0)
    assert next_trial(s, url, 2, SPACE) == (Ask.DONE, None)


def test_a_failed_trial_is_retried_with_its_params_up_to_max_retry_one_lineage_in_the_budget(study):
    s, url = study
    host = owner().rpartition(":")[0]
    what, first = next_trial(s, url, 1, SPACE)
    running, lineage = first, [first.number]
    for attempt in range(3):  # the trial and its two retries die; max_retry=2: no third retry
        assert s.trials[running.number].state.name == "RUNNING"
        running.set_user_attr(OWNER, f"{host}:{dead_pid()}")  # its process died
        assert recover(s, url, max_retry=2) == [running.number]
        again = retry_of(s, running.number)
        if attempt == 2:
            assert again is None  # the lineage ends failed
            break
        assert again is not None and s.trials[again].system_attrs["retry_history"] == lineage  # the lineage
        assert s.trials[again].system_attrs["failed_trial"] == first.number
        what, running = next_trial(s, url, 1, SPACE)  # the budget (1) is spent, yet the retry is served
        assert what is Ask.TRIAL and running.number == again and running.params == first.params
        lineage.append(again)
    b = budget(s)
    assert (b.lineages, b.finished, b.running, b.waiting) == (1, 1, 0, 0)  # three failed trials, one lineage
    assert next_trial(s, url, 1, SPACE) == (Ask.DONE, None)
