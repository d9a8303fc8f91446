"""Seed-robust trials (`hydra.sweeper.seeds=[1, 2, 3]`): a trial is one configuration scored over k
seeds, each seed a job of its own that any worker can take, so that workers stay busy (no barrier
per trial) and near the line the ranking is not a coin toss.

- A trial's seeds are its *seed jobs*; each has a user attr `seed=S` on the trial:
  `{"state": "running", "owner": host:pid, "beat": unix time}` while a worker trains it, then
  `{"state": "done", "values": [...], "job_dir": ...}`. A worker asks for work under the study lock
  (tinynets.search.study.next_trial): an open seed of a running trial first (one never claimed, or
  one whose worker is gone: dead on this host, or no beat for `grace` seconds), else a new trial.
- The seed job is `seed=S` in the job's overrides and runs in `<trial dir>/seed=S`; a seed that a
  dead worker left is taken again in the same dir, where the run resumes from its last.ckpt.
- When a trial's last seed is done, the trial is told the mean of each objective over its seeds
  and records `seed_values` (each seed's), `seed_min` and `seed_spread` (standard deviation, n-1)
  per objective. A pruned or failed seed ends the trial (pruning and the floor rule judge what has
  been seen so far: the first seed to reach an epoch reports it).
- A trial whose workers all died is failed and retried by the study's rules; the retry inherits the
  user attrs, so seeds already done are not trained again.
Without `seeds` nothing here is used: one job per trial at the config's `seed`, as before.
"""

from __future__ import annotations

import logging
import socket
import statistics
import threading
import time
from typing import Any

log = logging.getLogger("tinynets.search")

SEEDS_ATTR = "seeds"  # user attr: the trial's seeds, in the order their jobs are handed out
RUNNING, DONE = "running", "done"


def seed_key(seed: int) -> str:
    return f"seed={seed}"


def check_seeds(value: Any) -> list[int] | None:
    """`hydra.sweeper.seeds`: null, or a non-empty list of distinct integers >= 0."""
    from tinynets.errors import ConfigError

    if value is None:
        return None
    seeds = list(value) if isinstance(value, (list, tuple)) else None
    if (not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ConfigError("hydra.sweeper.seeds", value, "null (one run per trial at the config's seed) or a list of "
                          "distinct integers >= 0, e.g. [1,2,3]")
    return [int(s) for s in seeds]


def _gone(job: dict[str, Any], now: float, grace: float, alive) -> bool:
    """Whether a running seed job's worker is gone: dead on this host, or silent for `grace` seconds."""
    host, _, pid = str(job.get("owner", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not alive(int(pid)):
        return True
    return now - float(job.get("beat", 0)) > grace


def open_seed(trial, now: float, grace: float, alive) -> int | None:
    """The first seed of a running trial that no live worker holds and that is not done."""
    for s in trial.user_attrs.get(SEEDS_ATTR, []):
        job = trial.user_attrs.get(seed_key(s))
        if job is None or (job.get("state") == RUNNING and _gone(job, now, grace, alive)):
            return s
    return None


def held(trial, now: float, grace: float, alive) -> bool:
    """Whether a live worker trains one of the trial's seeds (then the trial is alive, whoever asked it)."""
    jobs = [trial.user_attrs.get(seed_key(s)) or {} for s in trial.user_attrs.get(SEEDS_ATTR, [])]
    return any(j.get("state") == RUNNING and not _gone(j, now, grace, alive) for j in jobs)


def claim(storage, trial_id: int, seed: int, owner: str) -> None:
    """Mark a seed job as this worker's (and beat it once)."""
    storage.set_trial_user_attr(trial_id, seed_key(seed), {"state": RUNNING, "owner": owner, "beat": time.time()})


def done_values(trial) -> dict[int, list[float]]:
    """Each done seed's objective values."""
    out = {}
    for s in trial.user_attrs.get(SEEDS_ATTR, []):
        job = trial.user_attrs.get(seed_key(s)) or {}
        if job.get("state") == DONE:
            out[s] = [float(v) for v in job["values"]]
    return out


def aggregate(per_seed: dict[int, list[float]]) -> dict[str, Any]:
    """Mean, minimum and spread (sample standard deviation; 0 for one seed) of each objective over the
    seeds, and each seed's values: what the trial is told and records."""
    columns = list(zip(*per_seed.values()))
    return {
        "mean": [statistics.fmean(c) for c in columns],
        "seed_values": {str(s): v for s, v in per_seed.items()},
        "seed_min": [min(c) for c in columns],
        "seed_spread": [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns],
    }


def record_done(storage, trial_id: int, seed: int, values: list[float], job_dir: str) -> None:
    storage.set_trial_user_attr(trial_id, seed_key(seed), {"state": DONE, "values": values, "job_dir": job_dir})


def finish(storage, trial_id: int) -> dict[str, Any] | None:
    """When every seed of the trial is done: record its seeds' values, minimum and spread on the trial
    and return `aggregate` (its `mean` is what the study is told); None while seeds are missing."""
    frozen = storage.get_trial(trial_id)
    per_seed = done_values(frozen)
    if not per_seed or len(per_seed) < len(frozen.user_attrs.get(SEEDS_ATTR, [])):
        return None
    agg = aggregate(per_seed)
    for key in ("seed_values", "seed_min", "seed_spread"):
        storage.set_trial_user_attr(trial_id, key, agg[key])
    return agg


def subdir(sweep_subdir: str, trial_key: str, number: int, seed: int) -> str:
    """A seed job's dir under the sweep root: the trial's subdir (`trial=${optuna_trial}`), then `seed=S`."""
    return f"{sweep_subdir.replace('${' + trial_key + '}', str(number))}/{seed_key(seed)}"


class SeedJobs:
    """A worker's side of its seed jobs: their beats, every `interval` seconds on a thread of their own
    (whatever the storage: a journal keeps no trial heartbeat, and a seed must not look abandoned while
    it trains), and their end, under one lock, so that no beat marks a seed running again once it is
    recorded done."""

    def __init__(self, storage, owner: str, interval: float) -> None:
        self.storage, self.owner, self.interval = storage, owner, max(0.5, float(interval))
        self.lock = threading.Lock()
        self.done: set[tuple[int, int]] = set()
        self.stops: dict[tuple[int, int], threading.Event] = {}

    def beat(self, trial_id: int, seed: int) -> None:
        with self.lock:
            if (trial_id, seed) not in self.done:  # a beat is the claim renewed
                claim(self.storage, trial_id, seed, self.owner)

    def start(self, trial_id: int, seed: int, ended: Any = None) -> None:
        """Beat the seed job until it is settled or `stop` is called; when a beat finds the trial no longer
        running (another of its seeds was pruned or failed, or the study failed it), `ended(why)` once."""
        stop = self.stops[(trial_id, seed)] = threading.Event()

        def run() -> None:
            while not stop.wait(self.interval):
                try:
                    state = self.storage.get_trial(trial_id).state
                    if state.name == "RUNNING":  # a finished trial takes no more attrs
                        self.beat(trial_id, seed)
                        continue
                except Exception as e:  # noqa: BLE001 - the next beat tries again (outages: tinynets.search.outage)
                    log.debug("beat of seed %d of trial id %d failed: %s", seed, trial_id, e)
                    continue
                if ended is not None and not stop.is_set():
                    ended(f"its trial is {state.name} in the study (another of its seeds ended it, or the study "
                          "failed it)")
                return

        threading.Thread(target=run, name=f"seed-{trial_id}-{seed}", daemon=True).start()

    def stop(self) -> None:
        for stop in self.stops.values():
            stop.set()
        self.stops.clear()

    def settle(self, trial_id: int, seed: int, values: list[float], job_dir: str) -> dict[str, Any] | None:
        """A seed job that ended ok: recorded done; `aggregate` of the trial when it was its last seed
        (then tell the study its `mean`), else None."""
        with self.lock:
            self.done.add((trial_id, seed))
            if (trial_id, seed) in self.stops:
                self.stops.pop((trial_id, seed)).set()
            record_done(self.storage, trial_id, seed, values, job_dir)
        return finish(self.storage, trial_id)
