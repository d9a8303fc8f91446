"""This process and its machine: how long the process has been running (for "from the command to
the first training step") and the CPU model that every timing names."""

from __future__ import annotations

import os
import platform
import time


def seconds_since_start() -> float | None:
    """Seconds since this process was started (exec'd by the shell), from /proc on Linux
    (10 ms resolution); None where that is not available."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        start_ticks = int(stat.rpartition(")")[2].split()[19])  # field 22: starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
