"""Drift reports rendered in a worker process while the thread fan-out goes on.

Evidently's report rendering (plotly figures) is pure Python: on threads it would hold the
interpreter lock the other audits need. One spawned process renders them on a core of its
own; the auditing thread waits for its report without holding the lock.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

_POOL: ProcessPoolExecutor | None = None


def _exit_with(parent: int) -> None:
    """In the worker: exit when the audit process that spawned it is gone (even SIGKILLed)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)  # orphaned: nobody will ever ask for another report

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _render_here(reference: Any, current: Any, drift: Any) -> bytes:
    from governance.ml.drift import drift_report_html

    return drift_report_html(reference, current, drift)


def render(reference: Any, current: Any, drift: Any) -> bytes:
    """The report, from the worker process when one is running (else rendered here)."""
    pool = _POOL
    if pool is None:
        return _render_here(reference, current, drift)
    try:
        return pool.submit(_render_here, reference, current, drift).result()
    except BrokenProcessPool:  # the worker died (e.g. out of memory): the audit goes on
        return _render_here(reference, current, drift)


def renderer() -> Any:
    """`render` while a worker process runs in this process, else None (render inline)."""
    return render if _POOL is not None else None


@contextmanager
def report_process() -> Iterator[None]:
    """Run one spawned report worker for the duration (spawn: the audit's threads are live)."""
    global _POOL
    _POOL = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with,
        initargs=(os.getpid(),),
    )
    try:
        yield
    finally:
        pool, _POOL = _POOL, None
        pool.shutdown(wait=True)
