"""tinynets.run.assemble: what a config group names is built with one-line errors (BuildError), in
every task; the library's own message names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tiny
from tests.helpers.sweeps import run_single

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(("overrides", "expected"), [
    (("optimizer.momentum=-1",), "optimizer='sgd' is not allowed: it cannot be built (ValueError: Invalid "
                                 "momentum value: -1)"),
    (("trainer.precision=bogus",), "trainer='default' is not allowed: it cannot be built (ValueError: Precision "
                                   "'bogus' is invalid."),
    (("model=searchable", "model.net.n2=0"), "model.net.n2=0 is not allowed: must be an integer >= 1"),
])
def test_values_a_library_refuses(make_cfg, tiny_mnist, capsys, overrides, expected):
    cfg = make_cfg(*tiny(tiny_mnist), *overrides)
    code, err = run_single(cfg, capsys)
    assert code == 2 and err.startswith(f"error: {expected}") and err.count("\n") == 1
    assert list(Path(cfg.paths.output_dir).iterdir()) == []
