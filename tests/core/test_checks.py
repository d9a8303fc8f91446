"""tinynets.checks: a bad config gets one line naming the key, the value and what is allowed; a
non-zero exit; no traceback; and nothing written but Hydra's own files. The rules run in-process
(train.py's main, as `python train.py` runs it: they fail before torch is imported); two end-to-end
cases as a subprocess."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from tests.helpers.sweeps import train_inprocess
from tinynets.checks import check
from tinynets.errors import ConfigError

CASES = {
    "lr=-0.1": "lr=-0.1 is not allowed: must be a number > 0",
    "lr=0": "lr=0 is not allowed: must be a number > 0",
    "lr=abc": "lr='abc' is not allowed: must be a number > 0",
    "dropout.p=1.0": "dropout.p=1.0 is not allowed: must be a number in [0, 1)",
    "dropout.p=-0.1": "dropout.p=-0.1 is not allowed: must be a number in [0, 1)",
    "trainer.max_epochs=0": "trainer.max_epochs=0 is not allowed: must be an integer >= 1",
    "data.batch_size=-8": "data.batch_size=-8 is not allowed: must be an integer >= 1",
    "max_params=4000": "model='sep' is not allowed: it has 4,608 params, over max_params=4000",
}


@pytest.mark.parametrize("override", CASES)
def test_bad_value_one_line_nonzero_exit_nothing_written(tmp_path, override):
    run_dir = tmp_path / "run"
    code, err = train_inprocess(override, f"hydra.run.dir={run_dir}", f"paths.data_dir={tmp_path / 'nodata'}")
    assert code == 2
    assert err == f"error: {CASES[override]}\n"  # one line, no traceback
    assert {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}
    assert not (tmp_path / "nodata").exists()


def test_unknown_option_lists_the_choices(tmp_path):
    done = run_cli("train.py", "model=resnet50", f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode == 2
    assert done.stderr.startswith("error: model='resnet50' is not allowed: one of ") and "deep_narrow" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_missing_data_with_no_source_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    done = run_cli("train.py", "debug=fast", f"paths.data_dir={tmp_path / 'data'}", "data.sources=[]",
                   f"hydra.run.dir={run_dir}")
    assert done.returncode == 2
    err = done.stderr.strip()
    assert err.startswith("error: MNIST is not available") and "\n" not in err
    assert {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}


@pytest.mark.parametrize(("key", "value"), [("seed", 1.5), ("target_acc", 101), ("data.val_split", -1),
                                            ("data.augment.rotation", "7deg"), ("dropout.p", True)])
def test_rules_in_process(make_cfg, key, value):
    cfg = make_cfg()
    from omegaconf import OmegaConf

    OmegaConf.update(cfg, key, value)
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert str(e.value).startswith(f"{key}={value!r} is not allowed: must be")


def test_an_option_contributes_its_own_checks_first(make_cfg):
    """The generic rules know no option's keys: the backprop sheet's task and model contribute the
    sheet's checks (`checks:`), run before the generic ones (the sheet's model outside its experiment
    would otherwise be reported as an unresolved ${sheet.w})."""
    from tinynets.backprop.runner import RULES as SHEET_RULES
    from tinynets.checks import RULES

    assert not set(SHEET_RULES) & set(RULES)
    assert make_cfg().get("checks") is None
    for overrides in (("experiment=backprop_sheet",), ("model=tiny_sigmoid",), ("task=backprop_sheet",)):
        assert make_cfg(*overrides).checks == {"backprop_sheet": "tinynets.backprop.runner.check_config"}
    with pytest.raises(ConfigError, match="^model='tiny_sigmoid' is not allowed: it is the backprop sheet's model"):
        check(make_cfg("model=tiny_sigmoid"))
