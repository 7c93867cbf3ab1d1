"""The render log writer: a canary's logged renders, batched off the request path.

Requests hand rows to `RenderLog.submit`, which only appends to a list; a writer thread
inserts the list every flush interval. Only renders during a canary are logged, so the
gateway's ordinary path never writes. While the database is down, rows stay buffered (up to
MAX_BUFFER, oldest dropped first with a warning) and are retried: a lost render only means
one fewer sample for the canary's analysis, never a wrong verdict.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from governance.store.engine import WRITE_OPTION
from governance.store.prompts import PromptRepository

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
MAX_BUFFER = 100_000


class RenderLog:
    """Accepts render rows from requests and inserts them in batches."""

    def __init__(self, engine: Engine, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self._buffer: list[dict[str, Any]] = []
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        # One flush at a time (the writer thread, or an outcome for a buffered render).
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.database_up = True

    def submit(self, row: dict[str, Any]) -> None:
        """Queue one render row for the writer; never touches the database."""
        with self._lock:
            self._buffer.append(row)
            self._pending.add(row["id"])
            if len(self._buffer) > MAX_BUFFER:
                dropped = self._buffer.pop(0)
                self._pending.discard(dropped["id"])
                log.warning("render log: buffer full, dropped render %s", dropped["id"])

    def is_pending(self, render_id: str) -> bool:
        """Whether the render was accepted here and is not in the database yet."""
        return render_id in self._pending

    def flush(self) -> bool:
        """Insert what is buffered now; False (rows kept) when the database is unreachable."""
        with self._flushing:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch or self._insert(batch):
                return True
            with self._lock:
                self._buffer[:0] = batch
            return False

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="render-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and insert what is left (kept only in memory if that fails)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if not self.flush():
            log.warning("render log: %d render(s) not written at shutdown", len(self._buffer))

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the writer must outlive any surprise
                log.exception("render log round failed")

    def _insert(self, batch: list[dict[str, Any]]) -> bool:
        try:
            try:
                self._write(lambda repo: repo.add_renders(batch))
            except IntegrityError:
                # Part of it is stored already (a commit reported as failed): add the rest.
                self._write(
                    lambda repo: repo.add_renders(
                        [r for r in batch if not repo.render_exists(r["id"])]
                    )
                )
        except Exception as exc:
            if self.database_up:
                log.warning("render log: database unreachable, buffering (%s)", exc)
            self.database_up = False
            return False
        self.database_up = True
        with self._lock:
            self._pending.difference_update(r["id"] for r in batch)
        return True

    def _write(self, work: Callable[[PromptRepository], None]) -> None:
        # Not Store.write: renders touch no audit event, so they need not queue on its lock.
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                work(PromptRepository(conn))
