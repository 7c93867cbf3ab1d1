"""The governance server as a real process, and people who reach it with only its URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pyotp
from gatewaykit import free_port, settings_env

from governance.config import Settings

REPO = Path(__file__).resolve().parent.parent
THIN = [sys.executable, "-c", "from governance.entry import main; main()"]


@contextmanager
def server_process(
    settings: Settings, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`governance server run` on a free port: (base URL, Popen); stopped by its PID."""
    port = free_port()
    log = open(settings.home / f"server-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [*THIN, "server", "run", "--port", str(port), "--workers", str(workers)],
        env={**settings_env(settings), **(env or {})},
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, settings.home / f"server-{port}.log")
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Wait for /v1/health; fail naming the log if the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy in {timeout}s: {log.read_text()}")


def person_env(url: str, home: Path) -> dict[str, str]:
    """A person's whole environment: the server's URL and their own session file, no more."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GOVERNANCE_SERVER_URL": url,
        "GOVERNANCE_SESSION_FILE": str(home / "session.json"),
    }


def thin(env: dict[str, str], *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the `governance` console script's code in a process with exactly `env`."""
    return subprocess.run(
        [*THIN, *argv], env=env, cwd=cwd or REPO, capture_output=True, text=True, timeout=600
    )


class People:
    """Authenticator apps whose codes follow the server's clock (the one that checks them).

    Each call gives the code of the next unused 30-second step, the current or the next.
    """

    def __init__(self, url: str, secrets: dict[str, str]) -> None:
        self.url, self.secrets = url, secrets
        self.last: dict[str, int] = {}

    def server_step(self) -> int:
        """The server's current TOTP time step."""
        stamp = httpx.get(f"{self.url}/v1/health", timeout=5).json()["time"]
        return int(datetime.fromisoformat(stamp).timestamp()) // 30

    def code(self, name: str) -> str:
        """The next code `name` may use on this server."""
        step = self.server_step()
        wanted = max(step, self.last.get(name, -1) + 1)
        while wanted > step + 1:
            time.sleep(5)
            step = self.server_step()
        self.last[name] = wanted
        return pyotp.TOTP(self.secrets[name]).at(wanted * 30)

    def wrong(self, name: str) -> str:
        """A code that is not `name`'s for any step the server accepts now."""
        step = self.server_step()
        valid = {pyotp.TOTP(self.secrets[name]).at(s * 30) for s in (step - 1, step, step + 1)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
