"""A search trial's job stops when its study no longer wants it: its heartbeat thread (in the worker's
process, tinynets.search.study.Heartbeat) saw the trial failed elsewhere (the worker was paused or cut
off past the grace period, and another worker retries the same point), so training on would only make
a record the study disagrees with. The worker then records the job dir as `superseded` and takes its
next trial (tinynets.search.sweeper)."""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

from tinynets.search.study import superseded
from tinynets.search.trial import Superseded


class StopWhenSuperseded(Callback):
    """Raises Superseded at the first batch end after the trial was failed elsewhere."""

    def __init__(self, study_name: str, number: int) -> None:
        self.study_name, self.number = study_name, number

    def check(self) -> None:
        why = superseded(self.study_name, self.number)
        if why is not None:
            raise Superseded(why)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.check()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                                dataloader_idx: int = 0) -> None:
        self.check()
