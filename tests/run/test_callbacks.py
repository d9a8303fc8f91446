"""tinynets.run.callbacks, what the e2e tests do not already pin: History's first step, timed from
the process start."""

from __future__ import annotations

import json
from pathlib import Path


def test_metrics_record_the_first_step(make_cfg, tiny_mnist):
    """first_step_s: from the process start to the end of the first training step."""
    from tinynets.process import quiet_lightning
    from tinynets.run.classify import _run

    quiet_lightning()
    cfg = make_cfg("debug=fast", f"paths.data_dir={tiny_mnist}", "data.verify=false", "logger=none",
                   "callbacks=none")
    _run(cfg)
    m = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    from tinynets.process import seconds_since_start

    assert 0 < m["first_step_s"] < seconds_since_start()
