"""Sweeps and searches: sweeper.py (the loop of `hydra/sweeper=tinynets_optuna`), study.py (the study
the search's processes share: its budget, claims, recovery of dead trials), workers.py (`python -m
tinynets.search.workers N`: asynchronous workers, locally or as a SLURM job array), trial.py (a
trial's side, in its job: the holdout rule, its Optuna trial, the floor rule), storage.py (where a
study lives, its lock, the password kept out of sight), space.py (the search space and its parameter
budget), pareto.py (the accuracy/params front), leaderboard.py (every multirun's ranking, a Hydra
callback).

The seam with run/: search/ imports run/ (it reads runs and their records); run/ never imports search/,
it gets a trial's side (search.trial.side) through `hydra.sweeper.trial_side` (tinynets.run.trial)."""
