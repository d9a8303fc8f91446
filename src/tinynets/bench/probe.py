"""The start-up probe, run by `bench.startup` in a fresh interpreter from the repository root:
`python -m tinynets.bench.probe ARGS` runs train.py as `python train.py ARGS` does and prints
`PROBE {json}`: seconds since the process started at each phase before the first training step."""

import json
import runpy
import sys

from tinynets.process import seconds_since_start as t

marks = {"interpreter up": t()}


def wrap(obj, name, label, after=True):
    f = getattr(obj, name)

    def w(*a, **k):
        if not after:
            marks.setdefault(label, t())
        r = f(*a, **k)
        if after:
            marks.setdefault(label, t())
        return r

    setattr(obj, name, w)


def after_lightning():  # patch what needs lightning only once train.py has imported it
    import lightning.pytorch as lp

    import tinynets.data.mnist as dm
    import tinynets.run.callbacks as cb

    wrap(lp.Trainer, "fit", "Trainer.fit called", after=False)
    wrap(dm.MNISTData, "setup", "data loaded")
    orig = cb.History.on_train_batch_end

    def first(self, *a, **k):
        orig(self, *a, **k)
        marks.setdefault("first step done", t())

    cb.History.on_train_batch_end = first


def main() -> None:
    import tinynets.run.classify as tt

    wrap(tt, "_run", "config composed and checked", after=False)
    wrap(tt, "check_params", "net built (torch imported)", after=False)
    ql = tt.quiet_lightning

    def quiet():
        ql()
        marks.setdefault("lightning imported", t())
        after_lightning()

    tt.quiet_lightning = quiet
    sys.argv = ["train.py", *sys.argv[1:]]
    try:
        runpy.run_path("train.py", run_name="__main__")
    except SystemExit:
        pass
    print("PROBE " + json.dumps(marks))


if __name__ == "__main__":
    main()
