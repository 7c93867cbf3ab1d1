"""What bench/server.py needs for both servers: processes, sequential latency, load (bench only).

The same client code measures the governance server and MLflow's tracking server, so the
two figures differ only by what answers: one persistent httpx client for sequential
latency, one asyncio httpx client with a fixed number of concurrent callers for load.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

WARMUP = 50  # untimed calls before each latency series (connections, caches, both workers)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a list of milliseconds, and how many there were."""
    return {
        "p50_ms": percentile(samples, 0.50),
        "p95_ms": percentile(samples, 0.95),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": max(samples),
        "n": len(samples),
    }


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process in its own session, stopped with its whole process group by its id."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        # Its own session: the pgid is the pid we get, so stopping it reaches uvicorn's
        # worker processes (and MLflow's job runner) and nothing else.
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, url: str, timeout_s: float = 120.0) -> None:
        """Poll `url` until it answers 200; RuntimeError with the log's tail if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.process.args[0]} exited: {self.tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s: {self.tail()}")

    def tail(self) -> str:
        """The last lines of the server's log, for an error message."""
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 15 s."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._out.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def sequential_ms(
    client: httpx.Client, url: str, count: int, check: Callable[[httpx.Response], None]
) -> dict[str, float]:
    """Latency of `count` sequential GETs of `url` on one persistent client (after a warm-up)."""
    for _ in range(WARMUP):
        check(client.get(url))
    samples = []
    for _ in range(count):
        begin = time.perf_counter_ns()
        response = client.get(url)
        samples.append((time.perf_counter_ns() - begin) / 1e6)
        check(response)
    return summary_ms(samples)


def load(url: str, headers: dict[str, str], total: int, concurrency: int) -> dict:
    """`total` timed GETs of `url` from `concurrency` concurrent callers: rps, errors, latency.

    `errors` counts every failed or non-200 answer, the untimed warm-up's included.
    """
    return asyncio.run(_load(url, headers, total, concurrency))


async def _load(url: str, headers: dict[str, str], total: int, concurrency: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    remaining, samples, errors = [concurrency * 10], [], []
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:

        async def caller() -> None:
            # A bounded loop: callers take requests from one shared budget until it is spent.
            while remaining[0] > 0:
                remaining[0] -= 1
                begin = time.perf_counter_ns()
                try:
                    response = await client.get(url)
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                samples.append((time.perf_counter_ns() - begin) / 1e6)

        await asyncio.gather(*(caller() for _ in range(concurrency)))  # open every connection
        samples.clear()  # errors stay: the warm-up's requests count for `errors` too
        remaining[0] = total
        begin = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
    return {
        "rps": total / elapsed,
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "seconds": elapsed,
        "latency": summary_ms(samples),
    }
