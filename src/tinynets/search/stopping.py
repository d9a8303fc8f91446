"""A search trial's job stops when its study no longer wants it: its heartbeat thread (in the worker's
process, tinynets.search.study.Heartbeat) saw the trial failed elsewhere (the worker was paused or cut
off past the grace period, and another worker retries the same point), so training on would only make
a record the study disagrees with. The worker then records the job dir as `superseded` and takes its
next trial (tinynets.search.sweeper). tinynets.search.trial.callbacks puts `StopWhen` in the job."""

from __future__ import annotations

from collections.abc import Callable

from lightning.pytorch.callbacks import Callback


class StopWhen(Callback):
    """Calls `check` at every batch end; `check` raises (tinynets.search.trial.Superseded) to stop the run."""

    def __init__(self, check: Callable[[], None]) -> None:
        self.check = check

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.check()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self.check()
