"""What a benchmark reports: the CPU time of each party (server processes,
load generator, PostgreSQL), read from /proc so that a figure says who spent
the machine, and the table of figures with their aims and verdicts.

A party is a process tree: its own time, the time of children it has reaped
(PostgreSQL backends that ended) and the time of children still alive.
"""

from __future__ import annotations

import os
import pstats
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def stop_on_sigterm() -> None:
    """End this script on SIGTERM as on Ctrl-C (KeyboardInterrupt), so that
    the `finally` blocks stop the servers it started: by default SIGTERM
    ends the script at once and leaves them running. `make bench` sends it
    when it is interrupted itself (scripts/bench.sh)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces: fields start after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        out.extend(int(c) for c in text.split())
    return out


def tree_cpu_seconds(pid: int) -> float:
    """utime+stime of pid, its reaped children and its live descendants."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # fields[11..14] = utime, stime, cutime, cstime (stat fields 14-17)
    own = sum(int(x) for x in fields[11:15]) / _TICK
    return own + sum(tree_cpu_seconds(c) for c in _children(pid))


def io_and_preemptions(pid: int) -> tuple[int, int]:
    """(write system calls, involuntary context switches) of a process so
    far, 0 where /proc does not say. A server on uvloop writes each socket
    once a loop turn (libuv's write/writev, which the kernel counts here; a
    `send` would not be): one write an HTTP answer, one a PostgreSQL round
    trip. Preemptions say how often the kernel took the CPU away while the
    process could run: on a machine with fewer cores than busy processes
    each costs the process its caches, not only the switch."""
    writes = preempted = 0
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("syscw:"):
                writes = int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("nonvoluntary_ctxt_switches:"):
                preempted = int(line.split()[1])
    except OSError:
        pass
    return writes, preempted


def parent_pid(pid: int) -> int:
    fields = _stat(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return int(fields[1])


@dataclass
class Parties:
    """Named process trees; `snapshot()` before and `spent()` after a run."""

    pids: dict[str, list[int]] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, pid: int) -> None:
        self.pids.setdefault(name, []).append(pid)

    def _now(self) -> dict[str, float]:
        return {n: sum(tree_cpu_seconds(p) for p in ps) for n, ps in self.pids.items()}

    def snapshot(self) -> None:
        self._start = self._now()

    def spent(self) -> dict[str, float]:
        now = self._now()
        return {n: now[n] - self._start.get(n, 0.0) for n in now}


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def print_verdicts(rows: list[tuple[str, str, str, bool]]) -> None:
    """The figures a benchmark stands for: what, aim, measured, verdict."""
    print(f"{'figure':<48} {'aim':<28} {'measured':<30} verdict")
    for what, aim, measured, ok in rows:
        print(f"{what:<48} {aim:<28} {measured:<30} {'met' if ok else 'NOT MET'}")


def cpu_by_group(stats: pstats.Stats, groups: Sequence[tuple[str, str]]) -> dict[str, float]:
    """A profile's own CPU seconds per group of code: a function counts to
    the first (group, needle) whose needle is in its "path:name", else to
    "other (builtins, C)"."""
    totals: dict[str, float] = {}
    for (path, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{path}:{name}"
        group = next((g for g, needle in groups if needle in where), "other (builtins, C)")
        totals[group] = totals.get(group, 0.0) + tottime
    return totals
