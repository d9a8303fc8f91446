"""`python -m tinynets.results run [LABEL ...]` (`make reproduce`): train the results of record that
are missing, each as `python -m tinynets.run <overrides> seed=N` into outputs/results/<label>/seed<N>/,
a few at a time. A run dir that holds its run complete is skipped (tinynets.run.resume), so an
interrupted reproduction resumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tinynets.errors import report
from tinynets.process import child_env
from tinynets.results.spec import Spec


def run(spec: Spec, labels: list[str], jobs: int = 1, seeds: list[int] | None = None) -> int:
    """Train the missing runs, one process per run, `jobs` at a time (each with its share of the
    cores as torch threads, or its entry's `threads`: float reduction order, and so the last digits of a
    result, depend on the thread count). While `outputs/results/PAUSE` exists, no new run starts (so a
    benchmark can have a quiet machine)."""
    from tinynets.run.resume import complete_record  # what train.py itself would not run again

    by_label = spec.by_label()
    unknown = [x for x in labels if x not in by_label]
    if unknown:
        return report(f"unknown entries {unknown}; known: {list(by_label)}")
    chosen = [by_label[x] for x in labels] if labels else spec.entries + spec.screen  # in the order given
    done = {e.label: [s for s in e.seeds if complete_record(spec.run_dir(e, s), [*e.overrides, f"seed={s}"])]
            for e in chosen}
    pending = [(e, s) for e in chosen for s in e.seeds
               if (seeds is None or s in seeds) and s not in done[e.label]]
    for e in chosen:
        if done[e.label]:
            print(f"[{e.label}] seeds {list(done[e.label])} complete, skipping", flush=True)
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))
    env = child_env({**os.environ, "OMP_NUM_THREADS": threads})
    running: list[tuple[str, float, subprocess.Popen]] = []
    failed = 0

    def reap() -> None:
        nonlocal failed
        for item in [r for r in running if r[2].poll() is not None]:
            name, t0, proc = item
            running.remove(item)
            failed += proc.returncode != 0
            print(f"[{name}] exit {proc.returncode} after {time.time() - t0:.0f}s", flush=True)

    for entry, seed in pending:
        while len(running) >= jobs or (spec.runs / "PAUSE").exists():
            time.sleep(5)
            reap()
        cmd = [sys.executable, "-m", "tinynets.run", *entry.overrides, f"seed={seed}",
               f"hydra.run.dir={spec.run_dir(entry, seed)}"]
        name, n = f"{entry.label} seed {seed}", str(entry.threads or threads)
        print(f"[{name}] {' '.join(cmd[1:])} ({n} threads)", flush=True)
        running.append((name, time.time(), subprocess.Popen(cmd, cwd=spec.root, env={**env, "OMP_NUM_THREADS": n},
                                                            stdout=subprocess.DEVNULL)))
    while running:
        time.sleep(5)
        reap()
    return 1 if failed else 0
