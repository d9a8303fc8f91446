"""tinynets.errors: one exception type for a bad input (UserError, ConfigError its keyed form) and one
printer (`report`, `fail`): `error: <line>` on stderr and the error's exit status."""

from __future__ import annotations

import pytest

from tinynets.errors import ConfigError, UserError, fail, one_line, report


def test_config_error_names_the_key_the_value_and_what_is_allowed():
    e = ConfigError("lr", -0.1, "must be a number > 0")
    assert isinstance(e, UserError) and e.code == 2
    assert str(e) == "lr=-0.1 is not allowed: must be a number > 0"
    assert (e.key, e.value, e.allowed) == ("lr", -0.1, "must be a number > 0")


def test_report_prints_one_line_and_returns_the_status(capsys):
    class Refused(UserError):
        code = 3

    assert report(ConfigError("model", "x", "one of a, b")) == 2
    assert capsys.readouterr().err == "error: model='x' is not allowed: one of a, b\n"
    assert report(Refused("no")) == 3 and report(Refused("no"), code=1) == 1
    assert report(RuntimeError("a\n  traceback-ish\ttext")) == 2  # a foreign exception: squashed to one line
    assert capsys.readouterr().err == "error: no\nerror: no\nerror: a traceback-ish text\n"


def test_fail_exits_with_the_status(capsys):
    with pytest.raises(SystemExit) as e:
        fail("diverged at epoch 1 step 2 (loss=nan)", code=1)
    assert e.value.code == 1 and capsys.readouterr().err == "error: diverged at epoch 1 step 2 (loss=nan)\n"


def test_one_line_caps_the_length():
    assert one_line(ValueError("x" * 600)) == "x" * 500 + "..."
    assert one_line(KeyError()) == "KeyError"


def test_every_error_a_user_can_fix_is_a_user_error():
    """The package's bad-input errors all go through the one path (entry points catch UserError)."""
    from tinynets.checks import BuildError, OverBudget
    from tinynets.data.prepare import DataError
    from tinynets.deploy.export import CheckFailed
    from tinynets.files import CheckpointError
    from tinynets.run.resume import Diverged, ResumeRefused

    for cls in (BuildError, OverBudget, DataError, CheckFailed, CheckpointError, ResumeRefused):
        assert issubclass(cls, UserError), cls
    assert CheckFailed.code == 1
    assert not issubclass(Diverged, UserError)  # a run that diverged is not a bad input: status 1, recorded
