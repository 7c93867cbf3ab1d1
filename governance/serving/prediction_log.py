"""The prediction log writer: batches off the request path, a disk spool while the DB is down.

Requests hand records to `PredictionLog.submit`, which only appends to a list. A writer
thread takes the list every flush interval and inserts it with `insert_many`, which skips
ids already stored. When the insert fails, the batch is appended to this process's spool
file (JSON lines, fsync'd) and the writer retries later: first the spool files, then new
batches, so records reach the database in order. A crash between an insert and the spool's
truncation replays ids that are already stored, and `insert_many` skips them: nothing is
lost and nothing is counted twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from governance.store.engine import WRITE_OPTION
from governance.store.predictions import PredictionRepository

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
DRAIN_CHUNK = 500


class PredictionLog:
    """Accepts prediction records from requests and gets every one into the database once."""

    def __init__(self, engine: Engine, spool_dir: Path, flush_seconds: float = FLUSH_SECONDS):
        self.engine = engine
        self.spool_dir = Path(spool_dir)
        self.flush_seconds = flush_seconds
        self._buffer: list[dict[str, Any]] = []
        # Ids handed in but not yet known to be in the database (buffered or spooled).
        # id -> (endpoint, version) of records not yet in the database
        self._pending: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flushed = threading.Condition()
        self._rounds = 0
        self._thread: threading.Thread | None = None
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # One spool file per process, locked while the process lives, so another process
        # drains it only once its owner is gone.
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.spool_path = self.spool_dir / f"predictions-{name}.jsonl"
        # Locked under a name no drainer lists, then renamed: another process can never see
        # this spool unlocked and take it for an orphan.
        starting = self.spool_dir / f".starting-{name}"
        self._spool = open(starting, "a+b")  # noqa: SIM115 - held for the process's life
        fcntl.flock(self._spool, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(starting, self.spool_path)
        self.database_up = True

    # --- the request side -----------------------------------------------------------------

    def submit(self, records: Iterable[dict[str, Any]]) -> None:
        """Queue records for the writer; never touches the disk or the database."""
        with self._lock:
            for record in records:
                self._buffer.append(record)
                self._pending[record["id"]] = (record["endpoint"], record["version"])

    def is_pending(self, prediction_id: str) -> bool:
        """Whether the id was accepted here and has not reached the database yet."""
        return prediction_id in self._pending

    def pending_source(self, prediction_id: str) -> tuple[str, str] | None:
        """(endpoint, version) of a record accepted here and not yet in the database."""
        return self._pending.get(prediction_id)

    # --- the writer thread ----------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is buffered (to the database, or else the spool) and stop the writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._write_round()
        self._spool.close()
        if self.spool_path.exists() and self.spool_path.stat().st_size == 0:
            self.spool_path.unlink()

    def wait_flushed(self, timeout: float = 10) -> bool:
        """Block until a full writer round has run after this call (for tests and the bench)."""
        with self._flushed:
            target = self._rounds + 2
            self._wake.set()
            return self._flushed.wait_for(lambda: self._rounds >= target, timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._write_round()

    def _write_round(self) -> None:
        try:
            self._drain_spools()
            with self._lock:
                batch, self._buffer = self._buffer, []
            if batch and not self._insert(batch):
                self._spool_batch(batch)
        except Exception:  # the writer must outlive any surprise; the records stay spooled
            log.exception("prediction log round failed")
        with self._flushed:
            self._rounds += 1
            self._flushed.notify_all()

    def _insert(self, batch: list[dict[str, Any]]) -> bool:
        """Insert a batch; False (and the database marked down) when it cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    PredictionRepository(conn).insert_many(batch)
        except Exception as exc:
            if self.database_up:
                log.warning("prediction log: database unreachable, spooling (%s)", exc)
            self.database_up = False
            return False
        self.database_up = True
        with self._lock:
            for record in batch:
                self._pending.pop(record["id"], None)
        return True

    def _spool_batch(self, batch: list[dict[str, Any]]) -> None:
        lines = b"".join(json.dumps(_jsonable(r)).encode() + b"\n" for r in batch)
        self._spool.seek(0, os.SEEK_END)
        self._spool.write(lines)
        self._spool.flush()
        os.fsync(self._spool.fileno())

    def _drain_spools(self) -> None:
        """Move every spool this process may drain (its own, orphans) into the database."""
        if os.fstat(self._spool.fileno()).st_size and self._drain_file(self._spool):
            self._spool.truncate(0)
            self._spool.seek(0)
            os.fsync(self._spool.fileno())
        for path in sorted(self.spool_dir.glob("predictions-*.jsonl")):
            if path != self.spool_path:
                self._drain_orphan(path)

    def _drain_orphan(self, path: Path) -> None:
        try:
            handle = open(path, "r+b")  # noqa: SIM115 - closed below, after the unlink
        except FileNotFoundError:
            return
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # its process is alive and drains it itself
            if path.exists() and self._drain_file(handle):
                path.unlink()

    def _drain_file(self, handle) -> bool:
        """Insert every record of a spool file; True when all of them are in the database."""
        handle.seek(0)
        records = [r for r in map(_from_json, handle.read().splitlines()) if r is not None]
        for start in range(0, len(records), DRAIN_CHUNK):
            if not self._insert(records[start : start + DRAIN_CHUNK]):
                return False
        return True


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "created_at": record["created_at"].isoformat()}


def _from_json(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
        record["created_at"] = datetime.fromisoformat(record["created_at"])
        # Spooled before predictions recorded their client application.
        record.setdefault("client", None)
    except (ValueError, KeyError, TypeError):
        # Only a line cut short by a crash mid-write; its batch was never fsync'd whole.
        log.warning("prediction log: skipping an unreadable spool line")
        return None
    return record
