"""The loop of `hydra/sweeper=tinynets_optuna`: checks before anything starts, the study (created,
resumed or shared), ask -> launch -> tell, and the results at the sweep root.

- Checks, each one line and exit 2 before anything but Hydra's files is written: the holdout
  (`data.val_split=0` would make the test set the objective), the storage string, every searched
  key exists in the config, a `max_params` some architecture of the space meets, a pruner only
  for one objective, a `study_name` whose study has our directions and our search.
- The study lives in `hydra.sweeper.storage`; processes that run the same command on the same
  storage and `study_name` share it (trial numbers are the storage's, so they never collide).
  A trial left RUNNING by a process of this machine that is gone is failed and enqueued again.
- A trial's job reports its epochs to the pruner itself (tinynets/search.py); its metrics.json
  gives the objectives: COMPLETE with their values, PRUNED (`status: pruned`), FAIL otherwise
  (the search goes on; the leaderboard shows why).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from tinynets import overrides
from tinynets.errors import ConfigError, UserError, fail
from tinynets.search import seeds as seed_jobs
from tinynets.search.jobs import job_metrics_dir, outcome, record_failed, record_superseded, tell
from tinynets.search.outage import DEFAULT_WINDOW, OUTAGE, StorageOutage
from tinynets.search.outputs import write_results, write_worker_record
from tinynets.search.storage import check_storage, has_heartbeat, open_storage, redact, study_lock, trial_id
from tinynets.search.study import Ask, Heartbeat, budget, next_job, owner, recover, retry_of, supersede
from tinynets.search.trial import TRIAL_KEY, check_holdout

log = logging.getLogger("tinynets.search")

SEARCH_ATTR = "tinynets_search"        # study user attr: the search a study belongs to
NOT_COMPARED = ("paths.", "resume")    # where things live may differ between machines sharing a study


def refuse(e: ConfigError) -> None:
    fail(e)


class OptunaSweep:
    def __init__(self, conf: DictConfig) -> None:
        self.conf = conf
        self.job_idx = 0
        self.ran: list[int] = []  # the trials this process ran
        self.seeds: list[int] | None = None  # hydra.sweeper.seeds (tinynets.search.seeds), checked in sweep()

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    # ------------------------------------------------------------------ checks
    def objectives(self) -> dict[str, str]:
        objectives = {str(k): str(v) for k, v in (self.conf.get("objectives") or {}).items() if v is not None}
        bad = {k: v for k, v in objectives.items() if v not in ("maximize", "minimize")}
        if not objectives or bad:
            refuse(ConfigError("hydra.sweeper.objectives", dict(bad or objectives),
                               "must map metrics of metrics.json to maximize or minimize, "
                               "e.g. {best_val_acc: maximize, params: minimize}"))
        return objectives

    def space(self, arguments: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
        from tinynets.search.space import parse_overrides

        params = self.conf.get("params") or {}  # null drops a key an inherited search space has
        lines = [f"{k}={v}" for k, v in params.items() if v is not None] + list(arguments)
        try:
            space, fixed = parse_overrides(lines)
        except ConfigError as e:  # a sweep Optuna cannot sample
            from_cli = any(overrides.split(a)[0] == e.key for a in arguments)
            refuse(e if from_cli else ConfigError(f"hydra.sweeper.params.{e.key}", e.value, e.allowed))
        texts = dict(map(overrides.split, lines))  # the last one of a key wins
        for key in space:
            if key.startswith("+"):
                continue
            node = OmegaConf.select(self.config, key.lstrip("~"), default=ConfigError, throw_on_missing=False)
            if node is ConfigError:
                from_cli = any(overrides.split(a)[0] == key for a in arguments)
                refuse(ConfigError(key if from_cli else f"hydra.sweeper.params.{key}", texts.get(key),
                                   f"{key} is not a key of the config (a typo? to add a new key: +{key}=...)"))
        return space, fixed

    def check_budget(self, space, count) -> None:
        from tinynets.search.space import override_value, smallest

        max_params = OmegaConf.select(self.config, "max_params", default=None)
        keys = {k.lstrip("+~") for k in space}
        if not isinstance(max_params, int) or "model" in keys or not any(k.startswith("model.") for k in keys):
            return  # no budget, the model a config group choice (its size needs the whole composition), or no
            # architecture searched (every trial has the config's own: its job checks it)
        small = smallest(space, count)
        if small is not None and small[0] > max_params:
            where = " ".join(f"{k}={override_value(v)}" for k, v in small[1].items())
            refuse(ConfigError("max_params", max_params, f"no architecture in the search space fits: the "
                               f"smallest has {small[0]:,} params ({where})"))

    def signature(self, space, fixed, objectives) -> dict[str, Any]:
        from optuna.distributions import distribution_to_json

        return {"space": {k: json.loads(distribution_to_json(d)) for k, d in sorted(space.items())},
                "fixed": sorted(f"{k}={v}" for k, v in fixed.items() if not k.lstrip("+~").startswith(NOT_COMPARED)),
                "objectives": objectives}

    def check_study(self, study, storage_url: str, directions: list[str], signature: dict[str, Any]) -> None:
        theirs = [d.name.lower() for d in study.directions]
        name = study.study_name
        if theirs != directions:
            refuse(ConfigError("hydra.sweeper.study_name", name,
                               f"the study in {redact(storage_url)} has directions {', '.join(theirs)}, this search "
                               f"{', '.join(directions)}: choose another study_name"))
        before = study.user_attrs.get(SEARCH_ATTR)
        if before is None:
            study.set_user_attr(SEARCH_ATTR, signature)
            return
        for part in ("objectives", "space", "fixed"):
            if before.get(part) != signature[part]:
                def show(v):
                    return " ".join(v) if isinstance(v, list) else json.dumps(v, sort_keys=True)
                refuse(ConfigError("hydra.sweeper.study_name", name,
                                   f"the study in {redact(storage_url)} is another search ({part}: "
                                   f"{show(before.get(part))[:300] or '(none)'}, not {show(signature[part])[:300] or '(none)'}): "
                                   "choose another study_name or storage"))

    # ------------------------------------------------------------------ the study
    def sampler(self, space, count, grid: bool):
        from hydra.utils import instantiate

        from tinynets.search.space import BudgetSampler
        from tinynets.search.storage import quiet_optuna

        quiet_optuna()
        conf = self.conf.sampler
        if grid:
            from optuna.distributions import CategoricalDistribution

            bad = [k for k, d in space.items() if not isinstance(d, CategoricalDistribution)]
            if bad:
                refuse(ConfigError(f"hydra.sweeper.params.{bad[0]}", "(an interval)",
                                   "the grid sampler needs choice(...) or range(...) for every parameter"))
            return instantiate(conf, search_space={k: d.choices for k, d in space.items()}), None
        max_params = OmegaConf.select(self.config, "max_params", default=None)
        draws = int(self.conf.get("budget_draws", 0) or 0)
        budget = BudgetSampler(lambda s: instantiate(conf, seed=s), conf.get("seed"), space, count,
                               max_params if draws else None, draws)
        return budget, budget

    def open_study(self, storage_url, directions, signature, sampler, pruner, points=()):
        """The study, created or loaded under the study lock (workers starting together on a new
        storage would race to create its tables and the study), then checked to be this search's."""
        import optuna

        beat = self.heartbeat_interval(storage_url)
        name = str(self.conf.study_name)
        try:
            with study_lock(storage_url, name):
                storage = self.storage = open_storage(storage_url, beat, int(self.conf.grace_period) if beat else None,
                                                      self.max_retry())
                study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                            directions=directions, load_if_exists=True)
                self.check_study(study, storage_url, directions, signature)
                if points and not study.trials:  # a new study: the points it tries first
                    for params in points:
                        study.enqueue_trial(params, skip_if_exists=True)
                    log.info("Enqueued %d points (hydra.sweeper.enqueue)", len(points))
                if study.metric_names is None:  # the dashboard shows the metrics' names
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                        study.set_metric_names(list(signature["objectives"]))
        except UserError as e:
            fail(e)
        return study

    def heartbeat_interval(self, url: str) -> int | None:
        """Seconds between a running trial's heartbeats; None where the storage keeps none (journal)."""
        value = int(self.conf.get("heartbeat_interval") or 0)
        return value if value > 0 and has_heartbeat(url) else None

    def max_retry(self) -> int | None:
        value = self.conf.get("max_retry")
        return None if value is None else int(value)

    # ------------------------------------------------------------------ the loop
    def sweep(self, arguments: list[str]) -> None:

        from tinynets.search.space import ParamCounter, enqueue_points

        try:
            check_holdout(self.config)
            raw = OmegaConf.to_container(self.conf, resolve=False).get("storage")
            try:
                resolved = self.conf.storage
            except InterpolationResolutionError as e:  # an unset variable, a file that cannot be read
                cause = e.__cause__ if e.__cause__ is not None else e
                raise ConfigError("hydra.sweeper.storage", raw, str(cause).splitlines()[0]) from None
            storage_url = check_storage(resolved, raw)
        except ConfigError as e:
            refuse(e)
        self.check_numbers()
        try:
            self.seeds = seed_jobs.check_seeds(OmegaConf.to_container(self.conf, resolve=True).get("seeds"))
        except ConfigError as e:
            refuse(e)
        OUTAGE.configure(storage_url, float(self.conf.get("outage_window", DEFAULT_WINDOW)))
        objectives = self.objectives()
        directions = list(objectives.values())
        space, fixed = self.space(arguments)
        if len(directions) > 1 and not str(self.conf.pruner._target_).endswith("NopPruner"):
            refuse(ConfigError("hydra.sweeper.pruner", str(self.conf.pruner._target_).rsplit(".", 1)[-1],
                               f"Optuna prunes single-objective studies only and this one has {len(directions)} "
                               "objectives: use hydra/sweeper/pruner=nop (or an early-stop rule: hydra.sweeper.floor)"))
        task_cfg = OmegaConf.masked_copy(self.config, [k for k in self.config if k != "hydra"])
        self.check_task(task_cfg, space)
        count = ParamCounter(task_cfg, fixed)
        self.check_budget(space, count)
        try:  # the points a new study tries first: checked with the space, before any storage is opened
            points = enqueue_points(OmegaConf.to_container(self.conf.enqueue, resolve=True), space)
        except ConfigError as e:
            refuse(e)
        max_params = OmegaConf.select(self.config, "max_params", default=None)
        grid = str(self.conf.sampler._target_).endswith("GridSampler")
        sampler, budget = self.sampler(space, count, grid)
        import optuna
        from hydra.utils import instantiate

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens
        study = self.open_study(storage_url, directions, self.signature(space, fixed, objectives), sampler,
                                instantiate(self.conf.pruner), points)
        n_trials = int(self.conf.n_trials)
        if self.conf.get("check_only"):  # python -m tinynets.search.workers: checked once, before any worker
            log.info("Search checked: study %s in %s, budget %d trials", study.study_name, redact(storage_url),
                     n_trials)
            return  # no job ran: the leaderboard callback writes nothing either
        if grid:
            n_trials = min(n_trials, math.prod(len(d.choices) for d in space.values()))
        try:
            recovered = self.recover(study, storage_url)
            log.info("Study %s in %s (%d trials so far, %d recovered), budget %d trials, sampler %s, pruner %s, "
                     "objectives %s", study.study_name, redact(storage_url), len(study.trials), len(recovered),
                     n_trials, type(sampler).__name__, type(study.pruner).__name__, objectives)
            beat = self.heartbeat_interval(storage_url)
            poll = min(10.0, max(1.0, float(self.conf.grace_period) / 3)) if beat else 10.0
            n_jobs = max(1, int(self.conf.n_jobs))
            engine = getattr(self.storage, "engine", None)
            self.seed_jobs = seed_jobs.SeedJobs(self.storage, owner(), float(self.conf.heartbeat_interval or poll))
            while True:
                self.recover(study, storage_url)
                trials, beats, what = [], {}, Ask.DONE

                def claim(number: int) -> Heartbeat:  # the heartbeat starts before the trial is ours
                    beats[number] = Heartbeat(self.storage, study.study_name, number, beat)
                    return beats[number]

                try:
                    for _ in range(n_jobs):  # one job at a time per process (n_jobs: a batch for joblib)
                        what, trial, seed = next_job(study, self.storage, storage_url, n_trials, space, self.seeds,
                                                     wait=beat is not None, claim=claim, engine=engine,
                                                     grace=float(self.conf.grace_period))
                        if what is not Ask.TRIAL:
                            break
                        if seed is not None:  # the seed job's own beat (its trial's heartbeat is the trial's)
                            self.seed_jobs.start(trial_id(self.storage, study.study_name, trial.number), seed,
                                                 lambda why, n=trial.number: supersede(study.study_name, n, why))
                        trials.append((trial, seed))
                    if not trials:
                        if what is Ask.DONE:
                            break
                        time.sleep(poll)  # trials run elsewhere: one may come back as a retry
                        continue
                    self.run_trials(study, trials, fixed, objectives, max_params, beats)
                finally:
                    for b in beats.values():
                        b.stop()
                    self.seed_jobs.stop()
            if budget is not None and budget.redraws:
                log.info("budget: %d samples over max_params=%s were drawn again before launch", budget.redraws,
                         max_params)
            write_results(self.config, study, objectives)
        except StorageOutage as e:  # longer than the outage window: one line, and the same command goes on
            fail(e)
        finally:
            write_worker_record(self.config, storage_url, self.ran)

    def check_task(self, task_cfg, space) -> None:
        """The task's own checks (tinynets.checks) on the values every trial shares (lr=abc fails here,
        once, not in every trial); a searched key's value is the trial's, not checked here."""
        from hydra.core.hydra_config import HydraConfig

        from tinynets.checks import check

        HydraConfig.instance().set_config(self.config)  # as in a job: ${hydra:...} resolves (each job sets its own)
        try:
            check(task_cfg)
        except ConfigError as e:
            if e.key.lstrip("+~") not in {k.lstrip("+~") for k in space}:
                refuse(e)

    def check_numbers(self) -> None:
        """The sweeper's numbers, each one line when it is not allowed."""
        for key, least in (("n_trials", 1), ("n_jobs", 1), ("heartbeat_interval", 0), ("grace_period", 1),
                           ("outage_window", 0)):
            value = self.conf.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least:
                refuse(ConfigError(f"hydra.sweeper.{key}", value, f"must be a number >= {least}"))

    def recover(self, study, url: str) -> list[int]:
        """tinynets.search.study.recover, and for each trial this process failed a record in its job
        dir (status `retried`, or `failed` with no retry left), so that the leaderboard says why."""
        failed = recover(study, url, self.max_retry(), float(self.conf.grace_period),
                         float(self.heartbeat_interval(url) or 0))
        for n in failed:
            again = retry_of(study, n)
            why = "its process stopped (no heartbeat)" if has_heartbeat(url) else "its process is gone"
            log.info("trial %d failed: %s; %s", n, why, f"retried as trial {again}" if again is not None
                     else "no retry left")
            record_failed(self.config, n, why, again, self.seeds)
        return failed

    def run_trials(self, study, trials, fixed, objectives, max_params, beats=None) -> None:
        """Launch the trials' jobs, tell the study each one's outcome (a job's failure: FAIL with the
        reason in the trial's user attrs, and the search goes on). A trial the study failed elsewhere
        meanwhile (`beats`' heartbeats saw it, or the tell finds it finished) is not told: its job dir
        says `superseded` (tinynets.search.jobs)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        from tinynets.search.space import override_value

        overrides, subdir = [], str(OmegaConf.to_container(self.config.hydra.sweep, resolve=False).get("subdir"))
        for t, seed in trials:  # a seed job: its seed, in its own dir under the trial's (taken again: resumed there)
            values = {**fixed, **{k: override_value(v) for k, v in t.params.items()}}
            overrides.append(tuple(f"{k}={v}" for k, v in values.items()) + (f"++{TRIAL_KEY}={t.number}",) + (
                () if seed is None else (f"seed={seed}", f"hydra.sweep.subdir='{seed_jobs.subdir(subdir, TRIAL_KEY, t.number, seed)}'")))
        self.ran += [t.number for t, _ in trials]
        returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        self.job_idx += len(returns)
        raised = []
        for (trial, seed), ret in zip(trials, returns):
            beat = (beats or {}).get(trial.number)
            why = beat.superseded if beat is not None else None
            what = f"trial {trial.number}" + (f" seed {seed}" if seed is not None else "")
            try:
                if why is None:
                    state, values, error = outcome(trial, ret, objectives, max_params, seed)
                    if seed is not None and state == TrialState.COMPLETE:  # told when its last seed is done
                        agg = self.seed_jobs.settle(trial_id(self.storage, study.study_name, trial.number), seed,
                                                    values, str(job_metrics_dir(ret)))
                        if agg is None:
                            log.info("%s: done %s", what, ", ".join(f"{v:g}" for v in values))
                            continue
                        values, what = agg["mean"], f"{what} (the last of its seeds: their mean)"
                    tell(study, trial, values, state)
            except (UpdateFinishedTrialError, ValueError) as e:  # ValueError: "Cannot tell a COMPLETE trial"
                if isinstance(e, ValueError) and "Cannot tell a" not in str(e):
                    raise
                why = f"trial {trial.number} was finished elsewhere before this worker told it"
            if why is not None:
                record_superseded(job_metrics_dir(ret), trial.number, why, retry_of(study, trial.number))
                continue
            log.info("%s: %s%s", what, state.name.lower(), f" {', '.join(f'{v:g}' for v in values)}" if values else "")
            if error is not None:
                raised.append(error)
        if raised and len(raised) / len(returns) > float(self.conf.max_failure_rate):
            raise raised[0]  # a job raised past run()'s isolation: a bug, show it
