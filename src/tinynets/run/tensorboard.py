"""TensorBoard logging of a run: Lightning's TensorBoardLogger writing one event file per run dir
(the stock one writes a new file after every fit or test call)."""

from __future__ import annotations

from collections.abc import Iterable

from lightning.pytorch.loggers import TensorBoardLogger as _LightningTensorBoardLogger


class TensorBoardLogger(_LightningTensorBoardLogger):
    """The Trainer finalizes its loggers at the end of every `fit` and `test` call; the stock logger
    then closes its SummaryWriter, and the next write (the test pass, the final HPARAMS metrics)
    opens a new event file. Here a successful finalize only flushes (and writes hparams.yaml);
    `close()`, called once when the run is over, closes. A failed or interrupted run closes at once."""

    def finalize(self, status: str) -> None:
        if status != "success":
            super().finalize(status)
            return
        if self._experiment is not None:
            self._experiment.flush()
            self.save()

    def close(self) -> None:
        super().finalize("success")


def close_loggers(loggers: Iterable) -> None:
    """End of a run: close every logger (ours for good; others get Lightning's finalize)."""
    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            lg.close()
        else:
            lg.finalize("success")
