"""MLflow 3's tracking server as bench/server.py's same-run baseline (bench only).

`mlflow server` from bench/.mlflow-venv (made by bench/registry.py's `mlflow_python` on
first use), on a SQLite backend store, with its artifact proxy (`--serve-artifacts`, the
default) writing under the run's directory, and the same number of uvicorn workers as the
governance server. It is driven over REST by the same httpx code that drives ours:

- alias lookup: `GET /api/2.0/mlflow/registered-models/alias?name=...&alias=...`
  (`MlflowClient.get_model_version_by_alias`);
- registration: the artifact `PUT` through the proxy into one run's artifacts, then
  `POST /api/2.0/mlflow/model-versions/create` with that source and run id
  (`create_model_version`). MLflow 3 refuses a source outside a run's or logged model's
  artifacts, so the run is made once in setup; a version needs these two calls (ours: two
  blob uploads, the card and the artifact, and the command);
- load: the alias lookup from the same concurrent callers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from _http_bench import Server, free_port, load, sequential_ms

MODEL = "churn"
ALIAS = "champion"


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(f"MLflow answered {response.status_code}: {response.text[:300]}")
    return response


def start(python: Path, work: Path, workers: int) -> tuple[Server, str]:
    """`mlflow server` on SQLite under `work`, ready; (the process, its base URL)."""
    port = free_port()
    command = [
        str(python.parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
        "--artifacts-destination", str(work / "mlartifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    server = Server(command, env, work, work / "mlflow-server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(f"{base}/health")
    except BaseException:
        server.stop()
        raise
    return server, base


class Registrar:
    """Registers versions the way a client of MLflow's tracking server logs and registers one."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        _ok(client.post("/api/2.0/mlflow/registered-models/create", json={"name": MODEL}))
        info = _ok(client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}))
        info = info.json()["run"]["info"]
        self.run_id = info["run_id"]
        self.root = info["artifact_uri"]  # mlflow-artifacts:/<experiment>/<run>/artifacts
        self.proxied = "/api/2.0/mlflow-artifacts/artifacts/" + self.root.split(":/", 1)[1]

    def register(self, i: int, blob: bytes) -> str:
        """Upload the artifact into the run, create the version from it; the version number."""
        _ok(self.client.put(f"{self.proxied}/models/v{i}/model.skops", content=blob))
        body = {"name": MODEL, "source": f"{self.root}/models/v{i}", "run_id": self.run_id}
        created = _ok(self.client.post("/api/2.0/mlflow/model-versions/create", json=body))
        return created.json()["model_version"]["version"]


class MlflowBench:
    """`mlflow server` with one version under the alias, measured phase by phase like ours."""

    def __init__(self, python: Path, work: Path, workers: int, first_blob: bytes) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.server, self.base = start(python, work, workers)
        try:
            self.client = httpx.Client(base_url=self.base, timeout=30.0)
            self.version = _ok(self.client.get("/version")).text.strip()
            self.registrar = Registrar(self.client)
            # Setup: one version under the alias, as ours has one in production.
            self.first = self.registrar.register(0, first_blob)
            alias = {"name": MODEL, "alias": ALIAS, "version": self.first}
            _ok(self.client.post("/api/2.0/mlflow/registered-models/alias", json=alias))
        except BaseException:
            self.server.stop()
            raise
        self.lookup = f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias={ALIAS}"

    def _check(self, response: httpx.Response) -> None:
        if _ok(response).json()["model_version"]["version"] != self.first:
            raise RuntimeError(f"MLflow resolved {MODEL}@{ALIAS} to {response.text[:200]}")

    def resolve(self, count: int) -> dict:
        """Latency of `count` sequential alias lookups on one persistent client."""
        return sequential_ms(self.client, self.lookup, count, self._check)

    def register(self, blobs: list[bytes]) -> dict:
        """Registrations per second, each with its artifact uploaded through the proxy."""
        begin = time.perf_counter()
        for i, blob in enumerate(blobs, start=1):
            self.registrar.register(i, blob)
        elapsed = time.perf_counter() - begin
        return {"n": len(blobs), "seconds": elapsed, "per_s": len(blobs) / elapsed}

    def load(self, total: int, concurrency: int) -> dict:
        """Alias lookups from `concurrency` concurrent callers."""
        return load(self.base + self.lookup, {}, total, concurrency)

    def close(self) -> None:
        """Close the client and stop the server's process group."""
        self.client.close()
        self.server.stop()

    def __enter__(self) -> MlflowBench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
