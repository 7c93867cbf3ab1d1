"""Helpers the flow tests share: authenticator codes, seeding a stage, waiting on runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pyotp
from prefect.client.orchestration import get_client
from prefect.input.run_input import keyset_from_paused_state

from governance.domain.identity import VerifiedActor


def now() -> datetime:
    """The wall clock, as the flows read it."""
    return datetime.now(UTC)


class Authenticator:
    """People's authenticator apps: a fresh one-time code per call, as pyotp computes it.

    A code is accepted once per person and never an older one, so each call returns the
    code of the next unused 30-second step (the current one or the next, both accepted),
    waiting for the clock when both are spent.
    """

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.last: dict[str, int] = {}

    def code(self, name: str) -> str:
        """The next code `name` may use."""
        while True:
            step = int(time.time()) // 30
            wanted = max(step, self.last.get(name, -1) + 1)
            if wanted <= step + 1:
                break
            time.sleep((step + 1) * 30 - time.time() + 0.05)
        self.last[name] = wanted
        return pyotp.TOTP(self.secrets[name]).at(wanted * 30)


def actor(name: str) -> VerifiedActor:
    """A requester as `governance login` would have verified them."""
    return VerifiedActor(name=name, method="totp")


# The local Prefect server keeps its state in SQLite and was seen to stall for a minute
# under a loaded CI machine; the waits are generous, and still fail the test when they end.
def wait_suspended(run_id, after_answers: int | None = None, timeout: float = 240) -> str:
    """Wait until the run is suspended with its input schema saved; return the pause key."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            state = run.state
            if state.is_final():
                raise AssertionError(f"run ended as {state.name}: {state.message}")
            key = state.state_details.pause_key if state.is_paused() else None
            if key and (after_answers is None or key.endswith(f"-{after_answers}")):
                try:
                    client.read_flow_run_input(run_id, keyset_from_paused_state(state)["schema"])
                except Exception:  # not saved yet: the flow writes it just after suspending
                    time.sleep(0.1)
                    continue
                return key
            time.sleep(0.1)
    raise AssertionError(f"run {run_id} was not suspended within {timeout} s")


def wait_final(run_id, timeout: float = 240):
    """Wait for the run's final state; fail the test if it does not come."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state and state.is_final():
                return state
            time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within {timeout} s")
