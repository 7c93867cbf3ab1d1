"""The chat stub: an OpenAI-compatible chat-completions server for tests, the demo and the bench.

Replies are deterministic: the first rule whose `when` regex is found in the conversation
answers (`{user}` in a reply stands for the last user message), else "I can help with: <last
user message>". Latency, failures and a leaked e-mail address can be injected at start-up
and changed at runtime with `POST /_stub/config`; `GET /_stub/usage` counts what was asked.

    python -m deployments.chat_stub --port 8100 [--rules rules.yaml] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

HOST = "127.0.0.1"
MODEL = "chat-stub"
START_TIMEOUT_S = 5.0
INVALID = "invalid_request_error"  # OpenAI's error type for a bad request
COUNTS = ("requests", "prompt_tokens", "completion_tokens", "in_flight", "in_flight_max")


class Rule(BaseModel):
    """A canned reply for conversations in which `when` (a regex) is found."""

    model_config = ConfigDict(extra="forbid")
    when: str
    reply: str
    leak: bool = False  # this reply carries leak_email when leak_scope is "flagged"

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)  # re.error is a ValueError, so pydantic names the rule
        return value


class StubConfig(BaseModel):
    """Replies and injected faults; every field can change at runtime."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(default_factory=list)
    latency_ms: float = Field(0, ge=0)
    error_rate: float = Field(0, ge=0, le=1)
    fail_next: int = Field(0, ge=0)
    status_code: int = Field(500, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0)  # sent as Retry-After on injected failures
    leak_email: str | None = None
    leak_scope: Literal["all", "flagged"] = "all"
    seed: int = 0  # error_rate draws are repeatable


class Message(BaseModel):
    """One chat message of a request."""

    role: str
    content: str


class ChatRequest(BaseModel):
    """The parts of an OpenAI chat-completions body the stub reads; the rest is accepted."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    """An error in the OpenAI shape."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _invalid(exc: ValidationError) -> JSONResponse:
    """A 400 naming each bad field."""
    parts = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
    return openai_error(400, "; ".join(parts), INVALID)


class StubState:
    """The running configuration and the usage counts (touched only on the event loop)."""

    def __init__(self, config: StubConfig, api_key: str | None) -> None:
        self.api_key = api_key
        self.set_config(config)
        self.reset()

    def set_config(self, config: StubConfig) -> None:
        """Use a new configuration (and restart the error_rate draws)."""
        self.config = config
        self.rng = random.Random(config.seed)

    def reset(self) -> None:
        """Zero the usage counts."""
        self.counts = Counter(dict.fromkeys(COUNTS, 0))
        self.by_status: Counter[int] = Counter()

    def usage(self) -> dict[str, Any]:
        """The counts as JSON; in_flight_max is the most calls ever answered at once."""
        by_status = {str(k): v for k, v in sorted(self.by_status.items())}
        return {**self.counts, "by_status": by_status}

    def should_fail(self) -> bool:
        """Whether this call is an injected failure (fail_next first, then error_rate)."""
        if self.config.fail_next:
            self.config = self.config.model_copy(update={"fail_next": self.config.fail_next - 1})
            return True
        return self.config.error_rate > 0 and self.rng.random() < self.config.error_rate


def reply_for(config: StubConfig, messages: list[Message]) -> str:
    """The deterministic reply to a conversation."""
    said = "\n".join(m.content for m in messages)
    user = next((m.content for m in reversed(messages) if m.role == "user"), "")
    rule = next((r for r in config.rules if re.search(r.when, said)), None)
    text = rule.reply.replace("{user}", user) if rule else f"I can help with: {user}"
    flagged = config.leak_scope == "all" or (rule is not None and rule.leak)
    if config.leak_email and flagged:
        text += f" Contact {config.leak_email} for details."
    return text


def completion_body(state: StubState, chat: ChatRequest) -> dict[str, Any]:
    """The chat.completion answer, counting its tokens (whitespace-split words)."""
    text = reply_for(state.config, chat.messages)
    words = text.split()
    cut = chat.max_tokens is not None and len(words) > chat.max_tokens
    if cut:  # like a real model stopping at max_tokens
        words = words[: chat.max_tokens]
        text = " ".join(words)
    prompt, n = sum(len(m.content.split()) for m in chat.messages), len(words)
    state.counts.update(prompt_tokens=prompt, completion_tokens=n)
    message = {"role": "assistant", "content": text}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [{"index": 0, "message": message, "finish_reason": "length" if cut else "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": n, "total_tokens": prompt + n},
    }


async def answer(state: StubState, request: Request) -> JSONResponse:
    """One chat-completions call: auth, body check, injected faults, then the reply."""
    if state.api_key and request.headers.get("authorization") != f"Bearer {state.api_key}":
        return openai_error(401, "Incorrect API key provided", INVALID, "invalid_api_key")
    try:
        chat = ChatRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return _invalid(exc)
    await asyncio.sleep(state.config.latency_ms / 1000)  # a sleep, so calls overlap
    if state.should_fail():
        status = state.config.status_code
        kind = "rate_limit_error" if status == 429 else "server_error"
        response = openai_error(status, f"injected failure ({status})", kind)
        if state.config.retry_after is not None:
            response.headers["Retry-After"] = f"{state.config.retry_after:g}"
        return response
    return JSONResponse(completion_body(state, chat))


def create_app(config: StubConfig | None = None, api_key: str | None = None) -> FastAPI:
    """The stub's ASGI app; the bearer key is checked on /v1 when `api_key` is set."""
    app = FastAPI(title="chat stub", docs_url=None, redoc_url=None, openapi_url=None)
    state = app.state.stub = StubState(config or StubConfig(), api_key)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        counts = state.counts
        counts.update(requests=1, in_flight=1)
        counts["in_flight_max"] = max(counts["in_flight_max"], counts["in_flight"])
        try:
            response = await answer(state, request)
        finally:
            counts["in_flight"] -= 1
        state.by_status[response.status_code] += 1
        return response

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": MODEL, "object": "model", "created": 0, "owned_by": "chat-stub"}
        return {"object": "list", "data": [card]}

    @app.post("/_stub/config")
    async def configure(request: Request) -> JSONResponse:
        try:
            patch = await request.json()
            state.set_config(StubConfig.model_validate({**state.config.model_dump(), **patch}))
        except ValidationError as exc:
            return _invalid(exc)
        except (ValueError, TypeError) as exc:  # not a JSON object
            return openai_error(400, f"config must be a JSON object: {exc}", INVALID)
        return JSONResponse(state.config.model_dump())

    @app.get("/_stub/usage")
    async def usage() -> dict[str, Any]:
        return state.usage()

    @app.post("/_stub/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return state.usage()

    return app


class StubHandle:
    """A chat stub running in a background thread of this process."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self.server, self.thread, self.port = server, thread, port
        self.url = f"http://{HOST}:{port}"
        self.base_url = f"{self.url}/v1"  # what an OpenAI client's base_url is

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change some configuration fields; returns the whole new configuration."""
        return self._post("/_stub/config", changes)

    def defaults(self) -> dict[str, Any]:
        """Back to the default configuration (no rules, no latency, no faults)."""
        return self._post("/_stub/config", StubConfig().model_dump())

    def usage(self) -> dict[str, Any]:
        """The usage counts."""
        return httpx.get(f"{self.url}/_stub/usage").raise_for_status().json()

    def reset(self) -> dict[str, Any]:
        """Zero the usage counts."""
        return self._post("/_stub/reset", {})

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT_S)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return httpx.post(f"{self.url}{path}", json=body).raise_for_status().json()


def start_stub(
    rules: list[dict[str, Any]] | None = None,
    latency_ms: float = 0,
    port: int = 0,
    api_key: str | None = None,
    **config: Any,
) -> StubHandle:
    """A stub listening on 127.0.0.1 (a free port when 0); raises if it is not up in 5 s."""
    app = create_app(StubConfig(rules=rules or [], latency_ms=latency_ms, **config), api_key)
    sock = socket.socket()
    sock.bind((HOST, port))  # bound here, so a free port is known before uvicorn starts
    settings = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(settings)
    server.config.timeout_graceful_shutdown = 1
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TimeoutError(f"the chat stub did not start on {HOST} in {START_TIMEOUT_S:g} s")
        time.sleep(0.01)
    return StubHandle(server, thread, sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Serve the stub in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--rules", type=Path, help="YAML: a list of rules, or a whole config")
    parser.add_argument("--latency-ms", type=float, help="added to every reply")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1")
    args = parser.parse_args(argv)
    loaded = yaml.safe_load(args.rules.read_text()) if args.rules else None
    # The file is a list of rules, or a whole configuration mapping with `rules`.
    fields = loaded if isinstance(loaded, dict) else {"rules": loaded or []}
    if args.latency_ms is not None:
        fields["latency_ms"] = args.latency_ms
    app = create_app(StubConfig(**fields), args.api_key)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
