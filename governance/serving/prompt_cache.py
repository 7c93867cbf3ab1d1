"""What the gateway serves per prompt, held in memory and refreshed by a background poll.

Per prompt id: the production version, and any running canary with its candidate. A prompt
is loaded on its first request; the poll re-reads every prompt asked for recently (two
small queries each, versions only when the pointer or the canary moved), so a pointer move
or a rollback is served within one poll interval and no render reads the database. A
prompt not asked for in IDLE_SECONDS is dropped and loaded again when next asked for. When
the database cannot be reached, the last known state stays.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from governance.domain.errors import PromptNotFound
from governance.domain.prompt_rollout import PromptRollout
from governance.domain.prompts import PromptVersion, check_prompt_id
from governance.serving.polling import Poller
from governance.store.unit_of_work import Store, Transaction

log = logging.getLogger(__name__)

IDLE_SECONDS = 600.0
# Prompt ids with nothing to serve are remembered too (a 404 costs no query), up to this many.
MAX_MISSES = 1024


@dataclass(frozen=True)
class LivePrompt:
    """A prompt as served now: production (None: nothing to serve) and any running canary."""

    prompt_id: str
    stable: PromptVersion | None
    rollout: PromptRollout | None = None
    candidate: PromptVersion | None = None

    def require_stable(self) -> PromptVersion:
        """The production version, or PromptNotFound naming the prompt."""
        if self.stable is None:
            raise PromptNotFound(f"prompt {self.prompt_id!r} has no production version to serve")
        return self.stable


class PromptCache(Poller):
    """Prompt id -> LivePrompt; entries are replaced whole, so readers need no lock."""

    poll_name = "prompt-poll"
    keeps = "the last prompts"

    def __init__(self, store: Store, interval: float) -> None:
        super().__init__(interval)
        self.store = store
        self.prompts: dict[str, LivePrompt] = {}
        self._asked: dict[str, float] = {}
        self._lock = threading.Lock()

    def cached(self, prompt_id: str) -> LivePrompt | None:
        """The prompt as held in memory (no query), or None when not loaded yet."""
        found = self.prompts.get(prompt_id)
        if found is not None:
            self._asked[prompt_id] = time.monotonic()
        return found

    def load(self, prompt_id: str) -> LivePrompt:
        """Read a prompt from the database and hold it (a first request, off the event loop)."""
        check_prompt_id(prompt_id)
        with self.store.read() as tx:
            live = _read(tx, prompt_id, None)
        self._asked[prompt_id] = time.monotonic()
        self._keep({prompt_id: live})
        return live

    def refresh(self) -> None:
        """One poll: re-read every prompt asked for recently, drop the idle ones."""
        cutoff = time.monotonic() - IDLE_SECONDS
        active = [pid for pid, at in list(self._asked.items()) if at >= cutoff]
        if not active:
            return
        with self.store.read() as tx:
            fresh = {pid: _read(tx, pid, self.prompts.get(pid)) for pid in active}
        self._keep(fresh, idle_before=cutoff)

    def _keep(self, fresh: dict[str, LivePrompt], idle_before: float | None = None) -> None:
        with self._lock:
            merged = {**self.prompts, **fresh}
            if idle_before is not None:
                for pid in [p for p in merged if self._asked.get(p, 0.0) < idle_before]:
                    merged.pop(pid)
                    self._asked.pop(pid, None)
            misses = [pid for pid, live in merged.items() if live.stable is None]
            for pid in misses[: max(0, len(misses) - MAX_MISSES)]:
                merged.pop(pid)
                self._asked.pop(pid, None)
            self.prompts = merged


def _read(tx: Transaction, prompt_id: str, held: LivePrompt | None) -> LivePrompt:
    """The prompt as the database holds it; unchanged versions are reused from `held`."""
    move = tx.prompts.production(prompt_id)
    if move is None:
        return LivePrompt(prompt_id, None)
    stable = _version(tx, prompt_id, move.version, held.stable if held else None)
    rollout = tx.prompts.running_rollout(prompt_id)
    if rollout is None:
        return LivePrompt(prompt_id, stable)
    candidate = _version(tx, prompt_id, rollout.candidate_version, held.candidate if held else None)
    return LivePrompt(prompt_id, stable, rollout, candidate)


def _version(
    tx: Transaction, prompt_id: str, version: str, held: PromptVersion | None
) -> PromptVersion:
    """A version's template (immutable: one held under the same version is reused)."""
    if held is not None and held.version == version:
        return held
    return tx.prompts.get_version(prompt_id, version)
