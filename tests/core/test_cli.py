"""tinynets.errors (Hydra's errors as one line): Hydra's own errors (an unknown option of a group, a key that is not there, an
override that does not parse, an output dir that cannot be written) as one line and exit status 2,
nothing written but Hydra's files. In-process (train.py's main, as `python train.py` runs it);
the sweep and unwritable-dir cases as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.sweeps import run_train, train_inprocess


def one_line_and_nothing_written(done_or_err, run_dir: Path, expected: str, code: int = 2) -> None:
    rc, err = done_or_err
    assert rc == code
    assert err.strip() == f"error: {expected}" and "Traceback" not in err
    assert not run_dir.exists() or {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}


@pytest.mark.parametrize("override", ["model=resnet50", "optimizer=lbfgs", "trainer=tpu", "data=cifar10",
                                      "hparams_search=grid", "hydra/launcher=ray"])
def test_unknown_option_of_a_group(tmp_path, override):
    done = train_inprocess(override, f"hydra.run.dir={tmp_path / 'run'}")
    group, _, value = override.partition("=")
    if group.startswith("hydra/"):  # plugins' options too
        options = ", ".join(sorted({"basic", "joblib", "submitit_local", "submitit_slurm"}
                                   | {f.stem for f in (ROOT / "conf" / group).glob("*.yaml")}))
    else:
        options = ", ".join(sorted(f.stem for f in (ROOT / "conf" / group).glob("*.yaml")))
    one_line_and_nothing_written(done, tmp_path / "run", f"{group}={value!r} is not allowed: one of {options}")


def test_unknown_option_in_a_sweep_is_refused_before_any_job(tmp_path):
    done = run_train("-m", "model=gap_fc,resnet50", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert done.returncode == 2 and done.stderr.strip().startswith(
        "error: model='resnet50' is not allowed: one of aggregator, deep_narrow, fast, gap_conv, gap_fc, ")
    assert "\n" not in done.stderr.strip()
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(("override", "expected"), [
    ("lr2=0.1", "lr2='0.1' is not allowed: there is no such key in the config (a typo? to add a new key: +lr2=0.1)"),
    ("lr=[0.1", "lr='[0.1' is not allowed: it is not a valid override (no viable alternative at input '[0.1')"),
    ("resume=maybe", "resume='maybe' is not allowed: must be true or false"),
    ("data.root=${nope}", "data.root='${nope}' is not allowed: it cannot be resolved "
                          "(Interpolation key 'nope' not found)"),
])
def test_bad_key_syntax_or_reference(tmp_path, override, expected):
    done = train_inprocess(override, f"hydra.run.dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'nodata'}")
    one_line_and_nothing_written(done, tmp_path / "run", expected)


@pytest.mark.parametrize("multirun", [False, True])
def test_unwritable_output_dir(tmp_path, multirun):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a dir")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    done = run_train(*(["-m", "lr=0.01,0.02"] if multirun else []), f"{key}={blocker / 'out'}")  # a fresh process
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: {key}='{blocker / 'out'}' is not allowed: it cannot be written "
                                   f"(Not a directory: {blocker / 'out'})")
    assert blocker.read_text() == "not a dir"
