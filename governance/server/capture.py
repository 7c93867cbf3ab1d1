"""Per-request capture of what a command prints, in a server that runs many at once.

Commands print through rich and typer to `sys.stdout`. A server thread cannot swap
`sys.stdout` for itself alone, so the server installs one proxy for the whole process that
writes to the buffer of the request running in the current context, and to the real stream
otherwise (uvicorn's own logging, for one).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_BUFFER: ContextVar[io.StringIO | None] = ContextVar("command_output", default=None)


class _Proxy(io.TextIOBase):
    """A text stream that writes to the current request's buffer, else to `real`."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        """Write to the current request's buffer, or to the real stream outside a request."""
        target = _BUFFER.get()
        return (target or self.real).write(text)

    def flush(self) -> None:
        """Flush the real stream (a request buffer needs no flushing)."""
        if _BUFFER.get() is None:
            self.real.flush()

    def isatty(self) -> bool:
        """Never a terminal: command output is sent as text."""
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """UTF-8, whatever the real stream's encoding."""
        return "utf-8"


def install() -> None:
    """Route this process's stdout and stderr through the per-request proxy (idempotent)."""
    if not isinstance(sys.stdout, _Proxy):
        sys.stdout = _Proxy(sys.stdout)
    if not isinstance(sys.stderr, _Proxy):
        sys.stderr = _Proxy(sys.stderr)


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """Collect what the code inside prints (stdout and stderr) in one buffer."""
    buffer = io.StringIO()
    token = _BUFFER.set(buffer)
    try:
        yield buffer
    finally:
        _BUFFER.reset(token)
