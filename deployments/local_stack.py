"""A local Prefect server (API + UI) and the serve process, started and stopped by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalStack:
    """The processes this program started; only these are ever stopped."""

    home: Path
    port: int
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list = field(default_factory=list)

    @property
    def api_url(self) -> str:
        """The Prefect API URL."""
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        """The Prefect UI URL."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for processes that talk to this server."""
        return {
            **os.environ,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_UI_URL": self.ui_url,
            "PREFECT_HOME": str(self.home / "prefect"),
            "PYTHONPATH": str(ROOT),
            # The runner polls for resumed (rescheduled) runs this often: the resume latency.
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        }

    def start_server(self, timeout: float = 90) -> None:
        """Start `prefect server start` on 127.0.0.1 and wait until it answers."""
        env = {
            **self.env(),
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL")
        self._spawn(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env,
            "server.log",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"Prefect server did not answer; see {self.home / 'server.log'}")

    def start_serve(self, timeout: float = 60) -> subprocess.Popen:
        """Serve the deployments (deployments/serve.py) and wait until they are registered."""
        # Imported here: it imports every flow, which only a served stack needs.
        from deployments.serve import DEPLOYMENTS

        process = self._spawn([sys.executable, "-m", "deployments.serve"], self.env(), "serve.log")
        deadline = time.monotonic() + timeout
        # serve() registers the deployments one by one: wait for each, not only the first.
        waiting = [f"{flow.name}/{name}" for name, (flow, _) in DEPLOYMENTS.items()]
        while time.monotonic() < deadline:
            while waiting and self._registered(waiting[0]):
                waiting.pop(0)
            if not waiting:
                return process
            time.sleep(0.5)
        raise RuntimeError(f"deployments were not served; see {self.home / 'serve.log'}")

    def _registered(self, deployment: str) -> bool:
        """Whether the server knows the deployment `flow-name/deployment-name`."""
        return httpx.get(f"{self.api_url}/deployments/name/{deployment}").status_code == 200

    def start_gateway(self, port: int, env: dict[str, str] | None = None, timeout: float = 60):
        """Start `governance serve` on 127.0.0.1:`port` and wait until it is ready."""
        argv = ["serve", "--port", str(port)]
        url = f"http://127.0.0.1:{port}/v2/health/ready"
        return self._start_answering(argv, env, "gateway.log", url, timeout, "the gateway")

    def start_governance_server(
        self, port: int, env: dict[str, str] | None = None, timeout: float = 90
    ) -> subprocess.Popen:
        """Start `governance server run` on 127.0.0.1:`port` and wait until it answers."""
        argv = ["server", "run", "--port", str(port)]
        url = f"http://127.0.0.1:{port}/v1/health"
        return self._start_answering(
            argv, env, "governance-server.log", url, timeout, "the governance server"
        )

    def _start_answering(
        self,
        argv: list[str],
        env: dict[str, str] | None,
        log_name: str,
        url: str,
        timeout: float,
        what: str,
    ) -> subprocess.Popen:
        """Start a `governance` command and wait until `url` answers 200; fail naming the log."""
        command = [sys.executable, "-m", "governance.cli", *argv]
        process = self._spawn(command, {**self.env(), **(env or {})}, log_name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{what} did not answer; see {self.home / log_name}")

    def _spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
        self.home.mkdir(parents=True, exist_ok=True)
        # Appended, so a restarted process (after a crash) keeps the earlier log.
        log = (self.home / log_name).open("a")
        self.logs.append(log)
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Stop the processes this stack started, newest first."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                # A server still draining connections may ignore SIGTERM for a while; a
                # throwaway stack need not wait for that.
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                # Reaped, so no process outlives the stack and no zombie is left behind.
                process.wait(timeout=20)
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()
