"""CPU time spent during a benchmark, per part of the machine: this process (the load
generator), the processes it started (the servers under test), PostgreSQL and Redis. Read
from /proc (Linux), so it needs no profiler and is much steadier than a rate on a shared
machine: per call, it says what each part costs.

    with CpuTimes() as spent:
        ...  # the measured load
    print(spent.per(calls))   # "server 3.1 ms, load generator 1.2 ms, PostgreSQL 0.9 ms, ..."
"""

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] is the parent pid; utime and stime are fields 14 and 15 of stat (1-based)
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def _by_part() -> dict[str, float]:
    processes = _processes()
    me = os.getpid()
    parts = {"server": 0.0, "load generator": 0.0, "PostgreSQL": 0.0, "Redis": 0.0}
    for pid, (parent, name, seconds) in processes.items():
        if pid == me:
            parts["load generator"] += seconds
        elif name in ("postgres", "postmaster"):
            parts["PostgreSQL"] += seconds
        elif name.startswith("redis-server"):
            parts["Redis"] += seconds
        else:
            ancestor, hops = parent, 0
            while ancestor and ancestor != me and ancestor in processes and hops < 32:
                ancestor, hops = processes[ancestor][0], hops + 1
            if ancestor == me:
                parts["server"] += seconds
    return parts


class CpuTimes:
    """CPU seconds each part used between entering and leaving the block. A server process
    that exits inside the block is not counted (servers here outlive the measurement)."""

    def __enter__(self) -> "CpuTimes":
        self.before = _by_part()
        self.spent: dict[str, float] = {}
        return self

    def __exit__(self, *exc) -> None:
        after = _by_part()
        self.spent = {part: after[part] - self.before.get(part, 0.0) for part in after}

    def per(self, calls: float) -> str:
        if not calls:
            return "no calls"
        return ", ".join(
            f"{part} {seconds / calls * 1000:.2f} ms" for part, seconds in self.spent.items()
        )
