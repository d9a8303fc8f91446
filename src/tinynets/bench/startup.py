"""Start-up (`python -m tinynets.bench startup`): `train.py --help`, its heaviest imports, and
from the command to the first training step, with where those seconds go (bench.probe)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinynets.bench import ROOT
from tinynets.bench.clock import load_conditions, record_header
from tinynets.bench.fast import timed_run
from tinynets.process import child_env


def startup(repeats: int, data_dir: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`python train.py --help` wall time, its heaviest imports, and command-to-first-step of a
    real training start (`experiment=fast`, stopped after one step)."""
    env = child_env()
    before = load_conditions()
    helps = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, env=env, capture_output=True, check=True)
        helps.append(time.perf_counter() - t0)
    imp = subprocess.run([sys.executable, "-X", "importtime", "train.py", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stderr
    help_imports = _top_imports(imp)
    torch_in_help = any(line.rstrip().endswith("| torch") for line in imp.splitlines())
    first, walls = [], []
    one_step = ["experiment=fast", f"paths.data_dir={data_dir}", "+trainer.max_steps=1",
                "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]
    with tempfile.TemporaryDirectory(prefix="tinynets-startup-") as tmp:
        for i in range(repeats):
            r = timed_run(one_step, Path(tmp) / str(i), target=None)
            first.append(r["first_step_s"])
            walls.append(r["wall_s"])
        imp = subprocess.run([sys.executable, "-X", "importtime", "train.py", *one_step,
                              f"hydra.run.dir={Path(tmp) / 'importtime'}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stderr
        phases = probe_startup([*one_step, f"hydra.run.dir={Path(tmp) / 'probe'}"], env)
    run_imports = _top_imports(imp, 6)
    return {
        **record_header(argv, before),
        "help_s": [round(t, 2) for t in helps],
        "help_median_s": round(statistics.median(helps), 2),
        "help_imports": help_imports,
        "imports_torch_in_help": torch_in_help,
        "run_imports": run_imports,
        "phases_s": phases,
        "first_step_s": [round(t, 2) for t in first],
        "first_step_median_s": round(statistics.median(first), 2),
        "one_step_run_wall_s": [round(t, 2) for t in walls],
    }


def probe_startup(overrides: Sequence[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds from the command to each phase of `python train.py <overrides>` (see bench.probe)."""
    out = subprocess.run([sys.executable, "-m", "tinynets.bench.probe", *overrides], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("PROBE "))
    marks = json.loads(line[len("PROBE "):])
    return {k: round(v, 2) for k, v in sorted(marks.items(), key=lambda kv: kv[1]) if v is not None}


def _top_imports(importtime_stderr: str, n: int = 5) -> list[tuple[str, float]]:
    """The top-level imports with the largest cumulative time, from `python -X importtime`."""
    rows = []
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # depth 0: imported by the script itself
            rows.append((name.strip(), round(int(cum) / 1e6, 3)))
    return sorted(rows, key=lambda r: -r[1])[:n]
