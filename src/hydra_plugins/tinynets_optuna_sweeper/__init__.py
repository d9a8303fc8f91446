"""tinynets' Hydra plugin: `hydra/sweeper=tinynets_optuna` (see tinynets_optuna_sweeper.py)."""
