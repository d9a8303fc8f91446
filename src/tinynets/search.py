"""Budget-aware architecture search with hydra-optuna-sweeper: the link between a trial and its job.

hydra-optuna-sweeper 1.3 asks the study for a trial, turns its parameters into overrides,
launches the job and tells the study the job's return value. The job never sees the trial,
so stock Optuna pruning is impossible, and a trial can only end COMPLETE or FAIL. Our sweeper
(`hydra/sweeper=tinynets_optuna`, a subclass of the plugin's, see `PruningOptunaSweeperImpl`)
adds three things and keeps everything else of the plugin (samplers, params grammar, storage):

1. each job gets `optuna_trial=<trial number>`; the job opens the same study from its storage
   (sqlite in the sweep dir, so separate processes share it: joblib, submitit) and reports its
   per-epoch val accuracy to that trial; the pruner configured as `hydra.sweeper.pruner` (built
   in the job) decides, and the job stops (`tinynets.run_callbacks.OptunaPruning`, a Lightning callback);
2. a job that returns no value is told PRUNED when its metrics.json says `status: pruned`
   (over `max_params`, before any training, or stopped by the pruner), FAIL otherwise: a
   failed trial does not stop the search (the job recorded why, the leaderboard shows it);
3. the sweep refuses to start without a holdout (`data.val_split=0`: the objective would be the
   test set); re-running the same command resumes the study (same sqlite file, the trial
   numbers go on, trials an interrupted run left RUNNING are failed and queued again) and
   refuses to resume a study that another command started.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tinynets.config import ConfigError

log = logging.getLogger("tinynets.search")

TRIAL_KEY = "optuna_trial"
OVERRIDES_ATTR = "tinynets_task_overrides"


def trial_number(cfg: DictConfig) -> int | None:
    value = OmegaConf.select(cfg, TRIAL_KEY, default=None)
    return None if value is None else int(value)


def check_holdout(cfg: DictConfig) -> None:
    """A search's objective comes from a holdout split of train, never from the test set."""
    value = OmegaConf.select(cfg, "data.val_split", default=None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("data.val_split", value, "a search needs a holdout: an integer >= 1 "
                          "(e.g. 5000), so that its objective is never the test set")


# ----------------------------------------------------------------------------- in the job
def open_trial(cfg: DictConfig):
    """The running Optuna trial this job is, from the study's storage; None outside a search."""
    number = trial_number(cfg)
    if number is None or not HydraConfig.initialized():
        return None
    sweeper = HydraConfig.get().sweeper
    storage, study_name = sweeper.get("storage"), sweeper.get("study_name")
    if not storage or not study_name:
        log.warning("optuna_trial=%s but the sweeper has no storage/study_name: no pruning", number)
        return None
    import optuna
    from hydra.utils import instantiate

    pruner = instantiate(sweeper.pruner) if sweeper.get("pruner") else optuna.pruners.NopPruner()
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    # optuna 2.10 has no public lookup of a trial by number: the storage's own method
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)


# ----------------------------------------------------------------------------- in the sweeper
def _job_status(ret) -> str | None:
    try:
        out = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
        import json

        return json.loads((out / "metrics.json").read_text()).get("status")
    except Exception:  # noqa: BLE001 - no record: the trial failed
        return None


def _make_impl():
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
    from optuna.trial import TrialState

    class PruningOptunaSweeperImpl(OptunaSweeperImpl):
        """hydra-optuna-sweeper's sweeper with trial numbers passed to the jobs, PRUNED trials,
        failure isolation, a holdout check and resumable studies (see the module docstring)."""

        def __init__(self, *args: Any, pruner: Any = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.pruner = pruner

        def _configure_trials(self, trials, search_space_distributions, fixed_params):
            overrides = super()._configure_trials(trials, search_space_distributions, fixed_params)
            return [(*o, f"++{TRIAL_KEY}={t.number}") for o, t in zip(overrides, trials)]

        def _outcome(self, ret) -> tuple[Any, list[float] | None, BaseException | None]:
            try:
                value = ret.return_value  # re-raises what a job raised (not isolated by run())
            except Exception as e:  # noqa: BLE001
                return TrialState.FAIL, None, e
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return TrialState.COMPLETE, [float(value)], None
            return (TrialState.PRUNED if _job_status(ret) == "pruned" else TrialState.FAIL), None, None

        def _refuse(self, e: ConfigError) -> None:
            print(f"error: {e}", file=sys.stderr, flush=True)
            raise SystemExit(2)

        def sweep(self, arguments: list[str]) -> None:
            assert self.config is not None and self.launcher is not None
            try:
                check_holdout(self.config)
            except ConfigError as e:
                self._refuse(e)
            self._process_searchspace_config()
            params_conf = self._parse_sweeper_params_config()
            params_conf.extend(arguments)
            is_grid = getattr(self.sampler, "func", None) is optuna.samplers.GridSampler
            distributions, fixed = create_params_from_overrides(params_conf)
            space = dict(self.search_space_distributions or {})
            space.update(distributions)
            if is_grid:
                grid = {name: self._to_grid_sampler_choices(d) for name, d in space.items()}
                self.sampler = self.sampler(grid)
                self.n_trials = min(self.n_trials, math.prod(len(v) for v in grid.values()))
            for name in fixed:
                space.pop(name, None)
            directions = self._get_directions()

            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)  # the sqlite storage lives there
            optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happens
            study = optuna.create_study(study_name=self.study_name, storage=self.storage, sampler=self.sampler,
                                        directions=directions, pruner=self.pruner, load_if_exists=True)
            command = sorted(str(a) for a in arguments)
            before = study.user_attrs.get(OVERRIDES_ATTR)
            if before is None:
                study.set_user_attr(OVERRIDES_ATTR, command)
            elif before != command:
                self._refuse(ConfigError(
                    "hydra.sweeper.study_name", study.study_name,
                    f"the study in {self.storage} was started by `{' '.join(before) or '(no overrides)'}`, "
                    f"not `{' '.join(command) or '(no overrides)'}`: choose another study_name or hydra.sweep.dir"))
            stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            for t in stale:  # left RUNNING by an interrupted run of this command: run them again
                study.tell(t.number, state=TrialState.FAIL)
                study.enqueue_trial(t.params)
                log.info("trial %d was interrupted: marked failed, its parameters queued again", t.number)
            done_before = len(study.trials) - len(stale)
            seed = OmegaConf.select(self.config, "hydra.sweeper.sampler.seed", default=None)
            if done_before and seed is not None and not is_grid:
                # a resumed study must not replay the first run's draws: seed the sampler afresh,
                # reproducibly, from (seed, trials so far)
                from hydra.utils import instantiate

                study.sampler = self.sampler = instantiate(self.config.hydra.sweeper.sampler,
                                                           seed=int(seed) + done_before)
            log.info("Study %s in %s (%d trials so far), sampler %s, pruner %s, directions %s",
                     study.study_name, self.storage, done_before, type(self.sampler).__name__,
                     type(study.pruner).__name__, directions)

            to_go = self.n_trials
            while to_go > 0:
                batch = min(to_go, self.n_jobs)
                trials = [study.ask() for _ in range(batch)]
                overrides = self._configure_trials(trials, space, fixed)
                returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
                self.job_idx += len(returns)
                raised = []
                for trial, ret in zip(trials, returns):
                    state, values, error = self._outcome(ret)
                    study.tell(trial, values=values, state=state)
                    log.info("trial %d: %s%s", trial.number, state.name.lower(),
                             f" {values[0]:.4f}" if values else "")
                    if error is not None:
                        raised.append(error)
                if raised and len(raised) / len(returns) > self.max_failure_rate:
                    raise raised[0]  # a job raised past run()'s isolation: a bug, show it
                to_go -= batch

            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name, "storage": self.storage,
                                       "n_trials": len(study.trials),
                                       "states": {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
                                                  for s in TrialState if s.is_finished()}}
            if complete and len(directions) == 1:
                best = study.best_trial
                results.update(best_trial=best.number, best_params=best.params, best_value=best.value)
                log.info("Best trial %d: %s = %s", best.number, best.params, best.value)
            OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")

    return PruningOptunaSweeperImpl


def sweeper_impl(*args: Any, **kwargs: Any):
    return _make_impl()(*args, **kwargs)
