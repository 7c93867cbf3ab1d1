"""A prompt client for applications: the gateway's prompt, cached, with a fallback.

Like Langfuse's `get_prompt(name, cache_ttl_seconds, fallback)`: a fresh cached answer is
served without a request; after the TTL the copy is revalidated with `If-None-Match` (a 304
refreshes it); when the gateway is unreachable or failing, the last copy is served stale,
else the fallback template (rendered locally in Jinja2's sandbox), else PromptGatewayError.
While a canary runs each answer is a logged render with its own id, so such an answer is
never reused from the cache: it is revalidated (a 304 brings a fresh render id).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from governance.domain.errors import GovernanceError
from governance.llm import templates

Source = Literal["gateway", "cache", "stale-cache", "fallback"]
MAX_ENTRIES = 10_000


class PromptGatewayError(GovernanceError):
    """The gateway refused or could not answer, and nothing could be served instead."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchedPrompt:
    """A prompt as the application uses it, and where it came from."""

    prompt_id: str
    version: str | None
    variant: str | None
    template: str
    rendered: str | None
    render_id: str | None
    source: Source


@dataclass(frozen=True)
class _Entry:
    answer: dict[str, Any]
    expires: float


CacheKey = tuple[str, str | None, tuple[tuple[str, str], ...]]


class PromptClient:
    """Fetches prompts from the gateway's `/v1/prompts` routes; safe to share across threads."""

    def __init__(
        self,
        base_url: str,
        *,
        cache_ttl_seconds: float = 60,
        timeout_s: float = 2.0,
        fallbacks: dict[str, str] | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The application's client key (`governance clients create APP --route prompts`).
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.cache_ttl_seconds = cache_ttl_seconds
        self.fallbacks = dict(fallbacks or {})
        self.clock = clock
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout_s)
        self._cache: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get_prompt(
        self,
        prompt_id: str,
        *,
        targeting_key: str | None = None,
        variables: Mapping[str, Any] | None = None,
        fallback: str | None = None,
    ) -> FetchedPrompt:
        """The prompt for this key (rendered when variables are given), cached for the TTL."""
        given = {str(k): str(v) for k, v in (variables or {}).items()}
        key: CacheKey = (prompt_id, targeting_key, tuple(sorted(given.items())))
        with self._lock:
            entry = self._cache.get(key)
        if entry and self.clock() < entry.expires and not entry.answer.get("render_id"):
            return _fetched(entry.answer, "cache")
        try:
            response = self._fetch(prompt_id, targeting_key, given, entry)
        except httpx.TransportError as exc:
            why = f"prompt gateway {self.base_url} unreachable: {type(exc).__name__}: {exc}"
            return self._instead(prompt_id, entry, given, fallback, why, None)
        status = response.status_code
        if status == 304 and entry is not None:
            fresh = {**entry.answer, "render_id": response.headers.get("x-render-id")}
            return _fetched(self._keep(key, fresh), "cache")
        if status == 200:
            return _fetched(self._keep(key, response.json()), "gateway")
        why = f"prompt gateway answered {status} for {prompt_id!r}: {_error_of(response)}"
        if status >= 500:
            return self._instead(prompt_id, entry, given, fallback, why, status)
        if status == 404:
            # An authoritative "nothing to serve": the fallback, but no stale copy.
            return self._instead(prompt_id, None, given, fallback, why, status)
        raise PromptGatewayError(why, status)

    def report_outcome(
        self, render_id: str, success: bool, latency_ms: float | None = None
    ) -> None:
        """Tell the gateway how the LLM call made with a logged render went (once per id)."""
        body = {"render_id": render_id, "success": success, "latency_ms": latency_ms}
        try:
            response = self.http.post(
                f"{self.base_url}/v1/prompts/outcomes", json=body, headers=self._auth
            )
        except httpx.TransportError as exc:
            raise PromptGatewayError(
                f"prompt gateway {self.base_url} unreachable: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code != 200:
            raise PromptGatewayError(
                f"prompt gateway answered {response.status_code} for the outcome of "
                f"{render_id!r}: {_error_of(response)}",
                response.status_code,
            )

    def close(self) -> None:
        """Close the HTTP client (when this client made it)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> PromptClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch(
        self, prompt_id: str, key: str | None, variables: dict[str, str], entry: _Entry | None
    ) -> httpx.Response:
        params = {f"var.{name}": value for name, value in variables.items()}
        if key is not None:
            params["targeting_key"] = key
        headers = {**self._auth, **({"If-None-Match": entry.answer["etag"]} if entry else {})}
        url = f"{self.base_url}/v1/prompts/{quote(prompt_id, safe='')}"
        return self.http.get(url, params=params, headers=headers)

    def _keep(self, key: CacheKey, answer: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._cache[key] = _Entry(answer, self.clock() + self.cache_ttl_seconds)
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        return answer

    def _instead(
        self,
        prompt_id: str,
        entry: _Entry | None,
        variables: dict[str, str],
        fallback: str | None,
        why: str,
        status: int | None,
    ) -> FetchedPrompt:
        """What to serve when the gateway cannot: the stale copy, the fallback, or the error."""
        if entry is not None:
            # A stale copy is no logged render: its old render id was used already.
            return _fetched({**entry.answer, "render_id": None}, "stale-cache")
        template = fallback if fallback is not None else self.fallbacks.get(prompt_id)
        if template is None:
            raise PromptGatewayError(f"{why}; no cached copy and no fallback", status)
        rendered = templates.render(template, variables) if variables else None
        return FetchedPrompt(prompt_id, None, None, template, rendered, None, "fallback")


def _fetched(answer: dict[str, Any], source: Source) -> FetchedPrompt:
    return FetchedPrompt(
        prompt_id=answer["prompt_id"],
        version=answer["version"],
        variant=answer["variant"],
        template=answer["template"],
        rendered=answer["rendered"],
        render_id=answer.get("render_id"),
        source=source,
    )


def _error_of(response: httpx.Response) -> str:
    """The gateway's `{"error": ...}` message, or the start of whatever it sent."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
