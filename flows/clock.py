"""The clock the scheduled flows read: the real one, never a run parameter.

A run's parameters are whatever someone with Prefect API access sent, so a `now` parameter
would let anyone start retire-deprecated in 2031. Only code in the flow's own process can
move this clock (`governance audit-retirement --at` and tests); a served or deployed run
reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_AT: ContextVar[datetime | None] = ContextVar("governance_flow_clock", default=None)


def now() -> datetime:
    """The time the flow acts at: the wall clock unless this process set another."""
    return _AT.get() or datetime.now(UTC)


@contextmanager
def running_at(when: datetime) -> Iterator[None]:
    """Flows called in this process (and context) read `when` as their clock."""
    token = _AT.set(when)
    try:
        yield
    finally:
        _AT.reset(token)
