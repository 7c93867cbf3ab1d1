"""Short transactions on the prediction log for a request: reads, and outcome writes.

Not Store.write: outcomes touch no audit event, so they need not queue on its lock. A
database that cannot be reached is StoreUnavailable (503 naming why); an IntegrityError is
left to the caller, which knows what a concurrent twin means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from governance.domain.errors import StoreUnavailable
from governance.store.engine import WRITE_OPTION
from governance.store.predictions import PredictionRepository

Work = Callable[[PredictionRepository], Any]


def read_rows(engine: Engine, work: Work) -> Any:
    """Run `work` in a read transaction."""
    try:
        with engine.connect() as conn, conn.begin():
            return work(PredictionRepository(conn))
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"governance database unreachable: {_first_line(exc)}") from None


def write_rows(engine: Engine, work: Work) -> Any:
    """Run `work` in a write transaction."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                return work(PredictionRepository(conn))
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"governance database unreachable: {_first_line(exc)}") from None


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return (str(orig) if orig else str(exc)).strip().splitlines()[0]
