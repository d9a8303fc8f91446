"""Assemble and run a training: task.py's `run(cfg)` checks the composed config and hands it to its task
(conf/task/: `classify` in classify.py, the backprop sheet in tinynets.backprop.runner);
`python -m tinynets.run` and the top-level train.py are the command line.

The parts: context.py (a classifier run, built once, and its steps: fit, test, record), assemble.py
(the Trainer from the config groups), callbacks.py (every Lightning callback of ours), resume.py (what
a run dir that already holds a run does), metrics.py (metrics.json and the verdict), figures.py (a run's
figures), tensorboard.py (its event file), trial.py (a run that is one trial of a search).

The seam with search/: run/ never imports search/; a search trial's side (its Optuna trial, floor,
superseded stop) is injected by the sweeper through `hydra.sweeper.trial_side` (run/trial.py).
"""
