"""CPU seconds of this process and of every process it started, over a span (bench only).

Three parts, so nothing is missed and nothing counted twice:

- this process, all its threads: `getrusage(RUSAGE_SELF)`;
- children that ended and were waited for during the span (a spawned worker pool shut down
  inside it), with their own waited-for descendants: the `getrusage(RUSAGE_CHILDREN)` delta;
- descendants still alive at the end (a server started before the span, a helper process):
  their user + system time and that of the children they waited for, from /proc (psutil),
  less what they had at the start.

A sampler thread notes every descendant seen during the span, so the report can say which
processes the waited-for share came from. `Contention` says how contended the CPUs were
over a span (the machine is shared): the share of its wall time in which some runnable task
waited for a CPU (Linux pressure stall information), and the load averages.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

Key = tuple[int, float]  # (pid, create time): a pid reused by a new process is another key


def _rusage(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _descendants() -> dict[Key, tuple[float, psutil.Process]]:
    """CPU seconds so far of each living descendant (its own plus its waited-for children)."""
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            with process.oneshot():
                times = process.cpu_times()
                key = (process.pid, process.create_time())
            found[key] = (
                times.user + times.system + times.children_user + times.children_system,
                process,
            )
        except psutil.NoSuchProcess:
            continue  # it ended meanwhile; if it was our child, RUSAGE_CHILDREN has it
    return found


class TreeCpu:
    """Context manager measuring the CPU of this process tree; `report()` breaks it down."""

    def __init__(self, label: Callable[[psutil.Process], str], interval: float = 1.0) -> None:
        self.label = label
        self.interval = interval
        self._halt = threading.Event()
        self._seen: dict[Key, str] = {}  # labelled when first seen: an ended one has no cmdline
        self._thread = threading.Thread(target=self._watch, name="tree-cpu", daemon=True)

    def _watch(self) -> None:
        while not self._halt.wait(self.interval):
            self._note(_descendants())

    def _note(self, snapshot: dict) -> None:
        for key, (_, process) in snapshot.items():
            if key not in self._seen:
                self._seen[key] = self.label(process)

    def __enter__(self) -> TreeCpu:
        self._start = _descendants()
        self._note(self._start)
        self._self0, self._reaped0 = (
            _rusage(resource.RUSAGE_SELF),
            _rusage(resource.RUSAGE_CHILDREN),
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.own = _rusage(resource.RUSAGE_SELF) - self._self0
        self.reaped = _rusage(resource.RUSAGE_CHILDREN) - self._reaped0
        self._end = _descendants()
        self._halt.set()
        self._thread.join()
        self._note(self._end)

    def report(self) -> dict:
        """Seconds per part: this process, waited-for children, each living descendant's label."""
        living: dict[str, float] = {}
        for key, (cpu, _) in self._end.items():
            before = self._start.get(key, (0.0, None))[0]
            name = self._seen[key]
            living[name] = living.get(name, 0.0) + cpu - before
        ended = [name for key, name in self._seen.items() if key not in self._end]
        return {
            "this_process_all_threads": round(self.own, 2),
            "children_ended_in_span": round(self.reaped, 2),
            "children_ended_in_span_were": sorted(set(ended)),
            "living_descendants": {k: round(v, 2) for k, v in sorted(living.items())},
            "total": round(self.own + self.reaped + sum(living.values()), 2),
        }


def describe(process: psutil.Process, server_pids: set[int]) -> str:
    """A short label for a descendant: the Prefect server, a spawned worker, or its name."""
    try:
        if process.pid in server_pids or server_pids & {p.pid for p in process.parents()}:
            return "prefect server (and its children)"
        command = " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return "ended before it could be named"
    if "multiprocessing.resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "multiprocessing.spawn" in command:
        return "spawned worker process (report renderer)"
    return command[:80]


def cpu_pressure_us() -> int | None:
    """Microseconds so far in which some runnable task waited for a CPU (Linux PSI), or None."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(some.rsplit("total=", 1)[1])


class Contention:
    """Share of a span's wall time in which some task waited for a CPU, and the load averages."""

    def __enter__(self) -> Contention:
        self._load0 = [round(x, 2) for x in os.getloadavg()]
        self._psi0, self._t0 = cpu_pressure_us(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall, psi = time.perf_counter() - self._t0, cpu_pressure_us()
        waited = None if psi is None or self._psi0 is None else (psi - self._psi0) / 1e6
        self.figures = {
            "cpu_waiting_share": None if waited is None else round(waited / wall, 3),
            "load_average_start": self._load0,
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }
