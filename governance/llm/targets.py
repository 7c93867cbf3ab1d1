"""Targets the prompt gate calls: an OpenAI-compatible chat endpoint or a Python callable.

`complete_all` answers every conversation, in input order, with at most `concurrency` calls
in flight; a call that fails after its retries is a `Completion` with `error` set, never an
exception, so one bad case cannot hide the others' results.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from governance.domain.errors import TargetError

Messages = list[dict[str, Any]]
# Keys the adapter owns in the request body; params setting them would break the protocol.
RESERVED_PARAMS = ("model", "messages", "stream")
# vLLM serves the OpenAI protocol, so registered vllm models are callable the same way.
OPENAI_PROVIDERS = ("openai", "openai-compatible", "vllm")
OPENAI_BASE_URL = "https://api.openai.com/v1"
EXCERPT_CHARS = 200
# Keys of an LLM model version's configuration that carry over to its target as they are.
FROM_LLM_CONFIG = (
    *("base_url", "api_key_env", "concurrency", "timeout_s", "retries", "backoff_s"),
    *("price_per_1k_prompt", "price_per_1k_completion"),
)


@dataclass(frozen=True)
class Completion:
    """What a target answered for one case."""

    text: str  # the assistant message content ('' if error)
    latency_ms: float  # the successful attempt; on error, the whole call with its retries
    prompt_tokens: int | None = None  # None when the provider reported no usage
    completion_tokens: int | None = None
    cost: float | None = None  # in USD, None when unknown (no usage or no prices)
    error: str | None = None  # set when the call failed after retries: the reason


class TargetConfig(BaseModel):
    """How to call one target; bad values raise TargetError naming the field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["openai", "callable"]
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(2, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    max_retry_after_s: float = Field(30.0, ge=0)
    concurrency: int = Field(8, ge=1)
    price_per_1k_prompt: float | None = Field(None, ge=0)
    price_per_1k_completion: float | None = Field(None, ge=0)
    function: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise TargetError(_describe(exc)) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> TargetConfig:
        """Validate a mapping (from YAML or JSON); bad values raise TargetError."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise TargetError(_describe(exc)) from None

    @model_validator(mode="after")
    def _check_kind(self) -> TargetConfig:
        (_check_openai if self.kind == "openai" else _check_callable)(self)
        return self

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """USD for this usage, or None when the usage or either price is unknown."""
        prices = (self.price_per_1k_prompt, self.price_per_1k_completion)
        if None in (prompt_tokens, completion_tokens) or None in prices:
            return None
        return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1000


def _describe(exc: ValidationError) -> str:
    """One line naming each bad field of a target configuration."""
    parts = [f"{'.'.join(map(str, e['loc'])) or 'target'}: {e['msg']}" for e in exc.errors()]
    return "target config: " + "; ".join(parts)


def _check_openai(config: TargetConfig) -> None:
    """An openai target needs an http(s) base_url and a model, and no function."""
    if not config.base_url or not config.base_url.startswith(("http://", "https://")):
        raise TargetError(f"target base_url must be an http(s) URL, got {config.base_url!r}")
    if not config.model:
        raise TargetError("target model is required for an openai target")
    if config.function is not None:
        raise TargetError("target function is for callable targets, not openai ones")
    reserved = sorted(set(RESERVED_PARAMS) & set(config.params))
    if reserved:
        raise TargetError(f"target params may not set {', '.join(reserved)}")


def _check_callable(config: TargetConfig) -> None:
    """A callable target needs an importable `module:function`, and no base_url."""
    if config.base_url is not None:
        raise TargetError("target base_url is for openai targets, not callable ones")
    resolve_function(config.function or "")


def resolve_function(spec: str) -> Callable[..., Any]:
    """The callable a `module:function` spec names; TargetError says why it cannot be."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise TargetError(f"target function must be 'module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure makes the target unusable
        raise TargetError(f"target function {spec}: cannot import {module_name}: {exc}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise TargetError(f"target function {spec}: {module_name}.{attribute} is not callable")
    return function


def target_from_llm_config(config: dict[str, Any]) -> TargetConfig:
    """The target for a registered LLM model version's configuration."""
    provider = str(config.get("provider", ""))
    fields = {k: config[k] for k in FROM_LLM_CONFIG if k in config}
    if provider == "callable":
        return TargetConfig(kind="callable", function=config.get("function"), **fields)
    if provider not in OPENAI_PROVIDERS:
        raise TargetError(
            f"provider {provider!r} cannot be called by the prompt gate; "
            f"use one of {', '.join(OPENAI_PROVIDERS)} or callable"
        )
    fields.setdefault("base_url", OPENAI_BASE_URL if provider == "openai" else None)
    params = dict(config.get("parameters", config.get("params")) or {})
    return TargetConfig(kind="openai", model=config.get("base_model"), params=params, **fields)


def complete_all(config: TargetConfig, conversations: list[Messages]) -> list[Completion]:
    """Each conversation's completion, in input order, at most `concurrency` at a time."""
    if config.kind == "callable":
        return _complete_callable(config, conversations)
    return asyncio.run(_complete_openai(config, conversations))


def _complete_callable(config: TargetConfig, conversations: list[Messages]) -> list[Completion]:
    """Calls the function in a pool of `concurrency` threads."""
    function = resolve_function(config.function or "")
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        return list(pool.map(lambda m: _call_function(config, function, m), conversations))


def _call_function(
    config: TargetConfig, function: Callable[..., Any], messages: Messages
) -> Completion:
    """One call of a callable target; an exception or odd return becomes the error."""
    start = time.perf_counter()
    try:
        answer = function(messages, **config.params)
    except Exception as exc:  # the target's own failure is this case's result, not ours
        detail = f": {exc}" if str(exc) else ""
        error = f"{config.function} raised {type(exc).__name__}{detail}"
        return Completion("", _ms(start), error=error)
    latency = _ms(start)
    if isinstance(answer, str):
        return Completion(answer, latency)
    if isinstance(answer, dict) and isinstance(answer.get("text"), str):
        tokens = (_int(answer.get("prompt_tokens")), _int(answer.get("completion_tokens")))
        return Completion(answer["text"], latency, *tokens, cost=config.cost(*tokens))
    kind = type(answer).__name__
    error = f"{config.function} returned {kind}, expected str or a dict with 'text'"
    return Completion("", latency, error=error)


async def _complete_openai(config: TargetConfig, conversations: list[Messages]) -> list[Completion]:
    """All conversations through one client, gated by a semaphore."""
    key = os.environ.get(config.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(
        max_connections=config.concurrency, max_keepalive_connections=config.concurrency
    )
    client = httpx.AsyncClient(timeout=config.timeout_s, limits=limits, headers=headers)
    async with client:
        caller = _ChatCaller(config, client, asyncio.Semaphore(config.concurrency))
        return list(await asyncio.gather(*(caller.complete(m) for m in conversations)))


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, whether another could succeed, and the wait it asked for."""

    reason: str
    retryable: bool = True
    retry_after: float | None = None


class _ChatCaller:
    """POSTs one conversation to /chat/completions with retries and backoff."""

    def __init__(self, config: TargetConfig, client: httpx.AsyncClient, gate: asyncio.Semaphore):
        self.config, self.client, self.gate = config, client, gate
        self.base_url = (config.base_url or "").rstrip("/")
        self.url = f"{self.base_url}/chat/completions"

    async def complete(self, messages: Messages) -> Completion:
        """The completion, or the reason the last attempt failed."""
        body = {"model": self.config.model, "messages": messages, **self.config.params}
        async with self.gate:  # held through backoff too, so retries never exceed the limit
            start, attempt = time.perf_counter(), 1
            while isinstance(outcome := await self._attempt(body, attempt), _Failure):
                if not outcome.retryable or attempt > self.config.retries:
                    return Completion("", _ms(start), error=outcome.reason)
                await asyncio.sleep(self._delay(attempt, outcome.retry_after))
                attempt += 1
            return outcome

    async def _attempt(self, body: dict[str, Any], attempt: int) -> Completion | _Failure:
        """One POST and what came of it."""
        tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout_s):  # httpx's is per phase, not total
                response = await self.client.post(self.url, json=body)
        except (httpx.TimeoutException, TimeoutError):
            return _Failure(f"{self.url} timed out after {self.config.timeout_s:g} s ({tries})")
        except httpx.TransportError as exc:
            return _Failure(f"cannot reach {self.base_url}: {_reason(exc)} ({tries})")
        latency = _ms(start)
        status = response.status_code
        if status == 200:
            return self._parse(response, latency)
        reason = f"{self.url} answered {status} after {tries}: {_excerpt(response.text)}"
        if status == 429 or status >= 500:
            return _Failure(reason, retry_after=_retry_after(response))
        return _Failure(reason, retryable=False)

    def _parse(self, response: httpx.Response, latency: float) -> Completion | _Failure:
        """The completion from a 200 body, or why the body is not one."""
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"] or ""
        except (ValueError, LookupError, TypeError):
            reason = f"{self.url} answered 200 without choices: {_excerpt(response.text)}"
            return _Failure(reason, retryable=False)
        usage = payload.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        tokens = (_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
        return Completion(str(text), latency, *tokens, cost=self.config.cost(*tokens))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one (capped), else jittered exponential backoff."""
        if retry_after is not None:
            return min(retry_after, self.config.max_retry_after_s)
        base = self.config.backoff_s * 2 ** (attempt - 1)
        return base * random.uniform(0.5, 1.5)  # jitter keeps parallel retries apart


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delay or HTTP date), None when absent or bad."""
    value = response.headers.get("retry-after", "").strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    """A transport error in words, from the root of its cause chain: 'connection refused'."""
    root: BaseException = exc
    for _ in range(10):  # httpx wraps anyio's OSError, which wraps the socket's own error
        if isinstance(root, ConnectionRefusedError):
            return "connection refused"
        if (inner := root.__cause__ or root.__context__) is None:
            break
        root = inner
    text = str(root) or type(root).__name__
    return text.split("] ", 1)[-1].lower()  # '[Errno -2] Name or service not known'


def _excerpt(text: str) -> str:
    """The start of a body on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "…"


def _int(value: Any) -> int | None:
    """A token count, or None when the provider gave none."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ms(start: float) -> float:
    """Wall milliseconds since a perf_counter reading."""
    return (time.perf_counter() - start) * 1000
