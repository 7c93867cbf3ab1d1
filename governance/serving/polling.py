"""A background poll: call `refresh()` every interval; a failure keeps what is held."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Poller:
    """A daemon thread that refreshes a cache; subclasses define refresh() and what they keep."""

    # Named in the thread and in the warning a failed poll logs.
    poll_name = "poll"
    keeps = "what it holds"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> object:
        """One poll (subclasses read the database here)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=self.poll_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # database down: keep serving what is held
                if self.last_error is None:
                    log.warning("%s failed, serving %s: %s", self.poll_name, self.keeps, exc)
                self.last_error = str(exc)
