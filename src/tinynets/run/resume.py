"""Resume planning: what a run started in a dir that already holds one does (`plan`: not run
again, resumed from last.ckpt, or refused in one line), and `Diverged`, the stop a diverged run records.

A run dir (`hydra.run.dir`, or a sweep's job dir) remembers what ran there: `metrics.json`
when the run finished (with its overrides and its `status`), and `checkpoints/last.ckpt` at
the end of every epoch (with the overrides and Hydra's `.hydra/*.yaml` of the run, kept by
`tinynets.run.callbacks.RunIdentity`). With `resume=true` (the default) a run started in such a
dir (the default run dirs are new each time: this is for `hydra.run.dir=<old dir>` and for
re-running a sweep with `hydra.sweep.dir=<old root>`):

- is not run again when its metrics.json is complete (`ok`, `pruned` or `diverged`) for the same
  overrides: it returns the recorded objective;
- continues from `last.ckpt` otherwise (optimizer, scheduler, epoch, History, best checkpoint
  restored by Lightning; the data order and the augmentation/dropout randomness of an epoch
  depend only on (seed, epoch), so a resumed run computes what an uninterrupted one does);
- refuses, in one line, a dir that holds a run of other overrides (another model, another lr,
  ...; only `RESUMABLE_CHANGES` may differ, e.g. `trainer.max_epochs` to train longer), and puts
  the old run's `.hydra/*.yaml` back, so a refusal changes nothing there.

`resume=false` trains from scratch in that dir (overwriting its checkpoints and metrics.json).
Light module: no torch or Lightning import at the top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinynets.checks import is_finite_number
from tinynets.errors import ConfigError
from tinynets.overrides import as_dict
from tinynets.run.metrics import COMPLETE, OK, read_metrics, status_of

log = logging.getLogger("tinynets")

# overrides that may differ between a run and its resumption: they do not change what was trained
RESUMABLE_CHANGES = ("resume", "trainer.max_epochs", "paths.data_dir", "paths.root_dir", "data.sources",
                     "data.verify", "trainer.enable_progress_bar", "trainer.accelerator", "trainer.devices")


class ResumeRefused(ConfigError):
    """The run dir holds another run: refused in one line (in a sweep too, without touching that dir)."""


class Diverged(RuntimeError):
    """A NaN or infinite training loss. `str(e)` is the one line shown: `diverged at epoch 3 step 41 (loss=nan)`,
    epoch counted from 1 and step = the batch within that epoch, from 1."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(f"diverged at epoch {epoch} step {step} (loss={loss})")


def override_changes(before: list[str], now: list[str]) -> list[tuple[str, str | None, str | None]]:
    """(key, value before, value now) for every override that differs, but RESUMABLE_CHANGES."""
    a, b = as_dict(before), as_dict(now)
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys())
            if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]


def _refusal(changes, run_dir: Path, what: str) -> ConfigError:
    key, before, now = next(((k, b, n) for k, b, n in changes if k == "model"), changes[0])
    was = f"{key}={before}" if before is not None else f"no {key} override"
    return ResumeRefused(key, now if now is not None else "(default)",
                       f"{run_dir} holds {what} with {was}; a resumed run continues the same run "
                       f"(only {', '.join(RESUMABLE_CHANGES[1:4])}, ... may change): "
                       "use another run dir, or resume=false to start over there")


@dataclass
class Plan:
    """What to do in a run dir: `done` (the complete record: do not run), `ckpt` (resume from it), or neither."""

    done: dict[str, Any] | None = None
    ckpt: Path | None = None
    identity: dict[str, Any] | None = None  # RunIdentity's state in the checkpoint


def checkpoint_identity(ckpt: Path) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """RunIdentity's state and the weights' shapes of a Lightning checkpoint."""
    from tinynets.files import CheckpointError, load_checkpoint

    try:
        data = load_checkpoint(ckpt)
    except CheckpointError as e:
        raise ResumeRefused("resume", True, f"{e}: delete it, or resume=false") from None
    identity = next((v for k, v in (data.get("callbacks") or {}).items() if str(k).startswith("RunIdentity")), {})
    shapes = {k: tuple(v.shape) for k, v in (data.get("state_dict") or {}).items() if hasattr(v, "shape")}
    return identity or {}, shapes


def complete_record(run_dir: Path, overrides: list[str]) -> dict[str, Any] | None:
    """The run dir's complete record (metrics.json `ok`, `pruned` or `diverged`) of these
    overrides, else None: such a run is not run again (here, and by `make reproduce`)."""
    done = read_metrics(run_dir)
    if status_of(done) in COMPLETE \
            and not override_changes(done.get("overrides") or [], overrides):
        return done
    return None


def plan(run_dir: Path, overrides: list[str], resume: bool) -> Plan:
    """Decide from what the run dir holds (see the module docstring); raise ConfigError to refuse."""
    if not resume:
        return Plan()
    if (done := complete_record(run_dir, overrides)) is not None:
        return Plan(done=done)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    done = read_metrics(run_dir)
    if status_of(done) in COMPLETE:  # another run's complete record
        changes = override_changes(done.get("overrides") or [], overrides)
        if not ckpt.exists() or any(k != "trainer.max_epochs" for k, _, _ in changes):
            restore_hydra_files(run_dir, ckpt)
            raise _refusal(changes, run_dir, f"a complete run ({status_of(done)})")
    if not ckpt.exists():
        return Plan()
    identity, _ = checkpoint_identity(ckpt)
    changes = override_changes(identity.get("overrides") or [], overrides) if identity else []
    if changes:
        restore_hydra_files(run_dir, ckpt, identity)
        raise _refusal(changes, run_dir, "an unfinished run")
    return Plan(ckpt=ckpt, identity=identity)


def check_weights_fit(ckpt: Path, module, model_name: str, params: int, run_dir: Path) -> None:
    """The checkpoint's weights must have this model's names and shapes (config changes the
    overrides do not show: another conf/model file, code changes)."""
    identity, shapes = checkpoint_identity(ckpt)
    mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if shapes and shapes != mine:
        restore_hydra_files(run_dir, ckpt, identity)
        theirs = f"model '{identity['model']}' ({identity['params']:,} params)" if identity.get("model") \
            else f"other weights ({len(shapes)} tensors)"
        raise ResumeRefused("model", model_name, f"{ckpt} holds a checkpoint of {theirs}, this run builds "
                          f"{params:,} params: use another run dir, or resume=false to start over there")


def restore_hydra_files(run_dir: Path, ckpt: Path, identity: dict[str, Any] | None = None) -> None:
    """Put back the `.hydra/*.yaml` of the run that made `ckpt` (Hydra rewrote them for this refused start)."""
    if identity is None:
        if not ckpt.exists():
            return
        try:
            identity, _ = checkpoint_identity(ckpt)
        except ConfigError:
            return
    from tinynets.files import atomic_write

    for name, text in (identity.get("hydra_files") or {}).items():
        if name in ("config.yaml", "hydra.yaml", "overrides.yaml") and (run_dir / ".hydra").is_dir():
            atomic_write(run_dir / ".hydra" / name, text)


def objective_of(done: dict[str, Any]) -> float | None:
    value = done.get("best_val_acc")
    return float(value) if status_of(done) == OK and is_finite_number(value) else None
