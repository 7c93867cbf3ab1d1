"""Fixtures for tests that call chat targets: a live chat stub on 127.0.0.1.

Import them into a test module: `from llmkit import chat_stub, stub  # noqa: F401`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deployments.chat_stub import StubHandle, start_stub
from governance.llm.targets import TargetConfig


@pytest.fixture(scope="session")
def chat_stub() -> Iterator[StubHandle]:
    """One chat stub for the session (start it once; each test gets it reset via `stub`)."""
    handle = start_stub()
    yield handle
    handle.stop()


@pytest.fixture
def stub(chat_stub: StubHandle) -> StubHandle:
    """The session's chat stub with the default configuration and zeroed usage counts."""
    chat_stub.defaults()
    chat_stub.reset()
    return chat_stub


def chat_target(handle: StubHandle, **overrides: Any) -> TargetConfig:
    """An openai target on the stub, with quick retries so failing tests stay fast."""
    fields = {"kind": "openai", "base_url": handle.base_url, "model": "chat-stub"}
    fields |= {"timeout_s": 5, "backoff_s": 0.01}
    return TargetConfig(**(fields | overrides))
