"""`governance serve`: the serving gateway under uvicorn."""

from __future__ import annotations

import os
import shutil

import typer

from governance.bootstrap import open_governance
from governance.cli.context import console
from governance.serving.metrics import MULTIPROCESS_ENV

APP = "governance.serving.app:create_app"


def serve(
    port: int = typer.Option(8000, "--port", help="TCP port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (loopback by default)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
) -> None:
    """Serve the endpoints (Open Inference Protocol v2, plain JSON, outcomes, /metrics)."""
    import uvicorn

    # Fail here, in one line, rather than inside a worker: database and schema must be there.
    gov = open_governance()
    gov.close()
    if workers > 1:
        # Each worker counts into files here and /metrics merges them (prometheus_client's
        # multiprocess mode); it must be set before the workers import prometheus_client.
        metrics_dir = gov.settings.home / f"metrics-{os.getpid()}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ[MULTIPROCESS_ENV] = str(metrics_dir.resolve())
    console.print(f"gateway on http://{host}:{port} ({workers} worker(s))")
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    finally:
        if workers > 1:
            shutil.rmtree(os.environ.pop(MULTIPROCESS_ENV), ignore_errors=True)
