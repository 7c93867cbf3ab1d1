"""The task runner of a fan-out flow, chosen by configuration: threads, or Dask for scale."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from prefect.task_runners import ThreadPoolTaskRunner

from governance.config import Settings
from governance.domain.errors import ConfigError


def task_runner_for(settings: Settings):
    """Threads by default; DaskTaskRunner (a running scheduler, or a local cluster) for dask."""
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.task_workers)
    if settings.task_runner != "dask":  # Settings validates it; this guards a hand-built one
        raise ConfigError(
            f"setting GOVERNANCE_TASK_RUNNER: unknown runner {settings.task_runner!r}; "
            "expected threads or dask"
        )
    from prefect_dask import DaskTaskRunner

    address = settings.dask_scheduler_address.strip()
    if address:
        check_reachable(address)
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": min(settings.task_workers, 2),
            "threads_per_worker": 2,
            # No dashboard: it needs bokeh, and a port nobody asked to open.
            "dashboard_address": None,
        }
    )


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Refuse a Dask scheduler address that is malformed or does not accept connections."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        raise ConfigError(
            f"setting DASK_SCHEDULER_ADDRESS: {address!r} is not a scheduler address "
            "(expected tcp://host:port)"
        )
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"setting DASK_SCHEDULER_ADDRESS: the Dask scheduler at {address} is unreachable "
            f"({exc.strerror or exc})"
        ) from None


def describe(runner) -> str:
    """The runner as a log line names it: its class, and where Dask runs."""
    name = type(runner).__name__
    if name != "DaskTaskRunner":
        return f"{name} ({getattr(runner, '_max_workers', '?')} threads)"
    address = getattr(runner, "address", None)
    return f"{name} ({'scheduler ' + address if address else 'local cluster'})"
