"""Engine creation with the durability and locking settings each database needs."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from governance.domain.errors import StoreUnavailable

WRITE_OPTION = "governance_write"
# How long a SQLite writer waits for another's lock before "database is locked".
DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 30_000


def masked(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def create_store_engine(
    url: str, *, sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS
) -> Engine:
    """Create an engine and prove the database answers; raise StoreUnavailable if it does not."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"invalid database URL {url!r}") from None
    engine = (
        _sqlite_engine(parsed, sqlite_busy_timeout_ms)
        if parsed.get_backend_name() == "sqlite"
        else _server_engine(parsed)
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (OperationalError, sa.exc.InterfaceError) as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailable(
            f"cannot reach governance database {masked(url)}: {reason}"
        ) from None
    return engine


def _server_engine(url: URL) -> Engine:
    if url.get_backend_name() != "postgresql":
        raise StoreUnavailable(
            f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql"
        )
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _sqlite_engine(url: URL, busy_ms: int) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Autocommit at the driver level lets us issue BEGIN ourselves (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL keeps every committed registration on disk across power loss.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A writer takes SQLite's write lock at BEGIN, so reading the audit chain head and
        # appending after it can never interleave with another writer.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
