"""Processes of the team stack: started detached, recognised by PID and start time, stopped
by PID, and waited on with bounded waits that fail loudly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deployments.team_env import ROOT


class StackError(RuntimeError):
    """A part of the stack did not start or answer in time; the message names it and its log."""


@dataclass
class Started:
    """One process the stack started: what the state file records of it."""

    pid: int
    start_ticks: int  # /proc/PID/stat field 22: tells our process from a reused PID
    argv: list[str]
    log: str
    health: str
    # This program's handle on its child (None for one it did not spawn, e.g. PostgreSQL);
    # not recorded: a later `stop` knows the process by PID and start time only.
    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        """The state file's entry."""
        fields = ("pid", "start_ticks", "argv", "log", "health")
        return {name: getattr(self, name) for name in fields}


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(entry: dict) -> bool:
    """Whether the recorded process is still the one the stack started (and not a zombie)."""
    ticks = start_ticks(entry["pid"])
    if ticks is None or ticks != entry["start_ticks"]:
        return False
    stat = Path(f"/proc/{entry['pid']}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def spawn(argv: list[str], env: dict[str, str], log: Path, health: str) -> Started:
    """Start `argv` in its own session (it outlives this program), output appended to `log`."""
    _prepare(env, log)
    with log.open("a") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = start_ticks(process.pid) or 0
    return Started(process.pid, ticks, argv, str(log), health, process)


def _prepare(env: dict[str, str], log: Path) -> None:
    """The log's directory and the process's own homes exist before it starts."""
    log.parent.mkdir(parents=True, exist_ok=True)
    for home in ("GOVERNANCE_HOME", "PREFECT_HOME"):
        if home in env:
            Path(env[home]).mkdir(parents=True, exist_ok=True)


def run_once(argv: list[str], env: dict[str, str], log: Path, timeout: float) -> str:
    """Run a setup command to its end; its output goes to `log` and is returned."""
    _prepare(env, log)
    try:
        done = subprocess.run(
            argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from exc
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise StackError(f"`{' '.join(argv)}` exited {done.returncode}; see {log}\n{tail(log)}")
    return done.stdout


def tail(log: str | Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message."""
    try:
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(name: str, entry: Started, deadline: float, check: Callable[[], bool]) -> None:
    """Wait until `check()` holds; raise StackError if the process dies or time runs out."""
    while True:
        if not alive(entry.record()):
            raise StackError(f"{name} exited while starting; see {entry.log}\n{tail(entry.log)}")
        if check():
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"{name} did not become healthy ({entry.health}) in time; "
                f"see {entry.log}\n{tail(entry.log)}"
            )
        time.sleep(0.5)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the flow runs a worker started, uvicorn's workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def stop(entry: dict, grace: float = 15) -> str:
    """Stop the recorded process and everything it started: SIGTERM, then SIGKILL after
    `grace` seconds. Only a PID whose start time matches the record is signalled."""
    if not alive(entry):
        return "not running"
    pid = entry["pid"]
    family = [(pid, entry["start_ticks"])]
    family += [(child, start_ticks(child)) for child in descendants(pid)]
    _signal(family, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _running(family):
        time.sleep(0.2)
    if _running(family):
        _signal(family, signal.SIGKILL)
        return "killed"
    return "stopped"


def _running(family: list[tuple[int, int | None]]) -> list[int]:
    return [
        pid
        for pid, ticks in family
        if ticks is not None and alive({"pid": pid, "start_ticks": ticks})
    ]


def _signal(family: list[tuple[int, int | None]], sig: int) -> None:
    for pid in _running(family):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
