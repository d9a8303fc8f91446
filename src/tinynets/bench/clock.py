"""Measuring: the result of one measurement, the step clock that times its window, peak memory,
and the conditions it ran under (device, machine and its key in results.json, load, commit, command)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    pipeline: str
    seconds: float  # for `steps` steps after the warm-up
    steps: int
    batch_size: int
    first_step_s: float  # building the pipeline to the end of its first step
    peak_rss_mb: float  # this process, during the measurement
    worker_peak_rss_mb: float = 0.0  # DataLoader worker processes (shared pages counted in each)
    peak_device_mb: float | None = None  # CUDA only
    epoch_images: int = 0  # (a): the length of the dataset it draws from, one epoch

    @property
    def img_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps


# `--clock cpu` (TINYNETS_BENCH_CLOCK=cpu): this process's CPU time instead of wall time, to compare
# (b) with (c) on a busy machine; (a)'s DataLoader workers are other processes, so (a) is not
# comparable that way. Reported numbers use the wall clock.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _clock() -> Callable[[], float]:
    return CLOCKS[os.environ.get("TINYNETS_BENCH_CLOCK", "wall")]


class StepClock:
    """Clock marks at the end of step `warmup - 1` and of step `warmup + steps - 1` (0-based),
    so the window holds exactly `steps` whole steps: fetch, transfer, augment, forward, backward,
    optimizer and whatever the framework does between them."""

    def __init__(self, warmup: int, steps: int, device) -> None:
        self.warmup, self.steps, self.device = warmup, steps, device
        self.now = _clock()
        self.t_build = self.now()
        self.t_first: float | None = None
        self.t0: float | None = None
        self.t1: float | None = None

    @property
    def total(self) -> int:
        return self.warmup + self.steps

    def tick(self, i: int) -> bool:
        """Call after step i; True once the window is complete."""
        if i == 0 or i == self.warmup - 1 or i == self.total - 1:
            if self.device.type == "cuda":
                import torch

                torch.cuda.synchronize(self.device)
            now = self.now()
            if i == 0:
                self.t_first = now
            if i == self.warmup - 1:
                self.t0 = now
            if i == self.total - 1:
                self.t1 = now
        return i >= self.total - 1

    @property
    def seconds(self) -> float:
        if self.t0 is None or self.t1 is None:
            raise RuntimeError(f"the pipeline stopped before {self.total} steps: too little data for "
                               f"--warmup {self.warmup} --steps {self.steps}")
        return self.t1 - self.t0


def status_kb(pid: int | str, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def peak_memory(device) -> Iterator[dict[str, float | None]]:
    """Peak resident memory of this process during the block (Linux: VmHWM, reset on entry
    through /proc/self/clear_refs; elsewhere the process's lifetime peak) and the CUDA peak."""
    import torch

    out: dict[str, float | None] = {"rss_mb": 0.0, "device_mb": None}
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        hwm = status_kb("self", "VmHWM")
        if not hwm:
            import resource

            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        out["rss_mb"] = hwm / 1024
        if device.type == "cuda":
            out["device_mb"] = torch.cuda.max_memory_allocated(device) / 2**20


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    from tinynets.process import cpu_model

    return f"cpu: {cpu_model()}, {os.cpu_count()} cores, torch {torch.get_num_threads()} threads"


def machine(devices: Iterable[str] = ()) -> dict[str, Any]:
    """The machine a bench command ran on: this CPU's model, its cores, and the GPU among the
    `devices` it ran on (device strings such as "cuda: NVIDIA H200"), if any."""
    from tinynets.process import cpu_model

    gpu = next((d.split(":", 1)[1].strip() for d in devices if str(d).startswith("cuda:")), None)
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": gpu}


def machine_key(m: dict[str, Any]) -> str:
    """results.json's key for a machine: the CPU model, plus the GPU's name when one was used."""
    return m["cpu"] + (f" + {m['gpu']}" if m.get("gpu") else "")


def _cpu_ticks() -> dict[int, tuple[int, str]]:
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (d / "stat").read_text().rpartition(")")[2].split()
            args = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            out[int(d.name)] = (int(fields[11]) + int(fields[12]), args)
    return out


def load_conditions(window_s: float = 2.0) -> dict[str, Any]:
    """What else the machine was doing: load averages, and the processes (not this one) that used
    over 5% of a core during a `window_s` sample (Linux /proc; elsewhere only the load averages)."""
    busy = []
    with contextlib.suppress(Exception):
        a = _cpu_ticks()
        time.sleep(window_s)
        b = _cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        for pid, (ticks, args) in b.items():
            if pid == os.getpid() or pid not in a:
                continue
            pct = 100 * (ticks - a[pid][0]) / hz / window_s
            if pct >= 5:
                busy.append((pct, f"{pct:.0f}% {args[:110]}"))
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "busy_processes": [text for _, text in sorted(busy, reverse=True)[:6]]}


def command_line(argv: Sequence[str] | None) -> str:
    """The bench command as typed (for the README)."""
    return "python -m tinynets.bench " + " ".join(sys.argv[1:] if argv is None else argv)


def record_header(argv: Sequence[str] | None, before: dict[str, Any], *, quick: bool | None = None,
                  window_s: float = 2.0) -> dict[str, Any]:
    """The fields every bench record starts with, taken when its measurement ends: the command as
    typed, quick mode (for a bench that has one), the date, the code it ran (`code_state`) and the
    machine's load before (`before`, from `load_conditions`) and now (sampled over `window_s`)."""
    head: dict[str, Any] = {"command": command_line(argv)}
    if quick is not None:
        head["quick"] = quick
    return {**head, "date": time.strftime("%Y-%m-%d %H:%M"), "code": code_state(),
            "load": {"before": before, "after": load_conditions(window_s)}}


def spread(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """The statistic the bench records of repeated measurements: their median, and their spread as
    the minimum and the maximum (with 3 to 7 repeats an interquartile range would rest on one or two
    values either side; min and max show every repeat's reach), and how many there were."""
    if not values:
        raise ValueError("no measurements")
    import statistics

    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def pairwise(numerator: Sequence[float], denominator: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """A ratio of two pipelines measured in the same repeats: the ratio within each repeat (the two
    measurements side by side, so a drift of the machine's speed between repeats cancels), then the
    median and spread of those ratios (`spread`), and the ratios themselves (`per_repeat`)."""
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} against {len(denominator)} repeats: a ratio pairs one of each per repeat")
    ratios = [n / d for n, d in zip(numerator, denominator)]
    return {**spread(ratios, digits), "per_repeat": [round(r, digits) for r in ratios]}


def code_state() -> dict[str, Any]:
    """The code a bench ran: the full commit and whether the tree had uncommitted changes to the
    code (`tinynets.run.metrics.code_version`: src, conf, train.py; results and READMEs do not count)."""
    from tinynets.run.metrics import code_version

    return code_version()
