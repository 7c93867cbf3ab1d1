"""The gateway's prompt routes: a prompt's version per targeting key, and render outcomes.

The production version is served, or a running canary's candidate for the keys in its share.
`GET /v1/prompts/{prompt_id}?targeting_key=K&var.NAME=value` answers from the in-memory
PromptCache; only while a canary runs does a response with a targeting key become a logged
render (written in batches by the RenderLog), so the ordinary path reads and writes nothing.
Responses carry a strong ETag over what was served; `If-None-Match` gets a 304.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from governance.domain.prompt_rollout import CANDIDATE, STABLE, variant_for
from governance.domain.prompts import check_render_variables
from governance.llm import templates
from governance.serving.client_door import client_app
from governance.serving.errors import NotReady
from governance.serving.gateway import utc_now
from governance.serving.prompt_cache import LivePrompt, PromptCache
from governance.serving.render_log import RenderLog
from governance.serving.request_body import GatewayRoute
from governance.store.engine import WRITE_OPTION
from governance.store.prompts import PromptRepository

# Short, so a pointer move reaches HTTP caches about as fast as it reaches the gateway.
CACHE_CONTROL = "private, max-age=1"
# A logged render is one use: a cache must come back (a 304 brings a fresh render id).
LOGGED_CACHE_CONTROL = "private, no-cache"
RENDER_ID_HEADER = "X-Render-Id"
VAR_PREFIX = "var."
MAX_KEY_CHARS = 256  # prompt_renders.targeting_key


class UnknownRender(NotFound):
    """An outcome names a render id no canary logged."""


class OutcomeRecorded(Conflict):
    """A render's outcome was already recorded."""


class PromptOutcome(BaseModel):
    """The outcome of a logged render: did the LLM call succeed, and how long did it take."""

    model_config = ConfigDict(extra="forbid")

    render_id: str = Field(min_length=1, max_length=36)
    success: StrictBool
    latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class PromptServing:
    """The prompt cache and render log of one gateway process, and what a request does."""

    def __init__(self, gov: Governance, clock: Callable[[], datetime] = utc_now) -> None:
        self.gov = gov
        self.clock = clock
        self.cache = PromptCache(gov.store, gov.settings.gateway_poll_seconds)
        self.renders = RenderLog(gov.engine)

    def start(self) -> None:
        """Poll the prompts and write renders in the background."""
        self.cache.start()
        self.renders.start()

    def stop(self) -> None:
        """Stop polling; write the renders still buffered."""
        self.cache.stop()
        self.renders.stop()

    def serve(
        self,
        live: LivePrompt,
        key: str | None,
        variables: dict[str, str],
        client: str | None = None,
    ) -> dict:
        """The answer for one request: variant, template, rendering, and the render's id.

        A logged render records `client`, the application whose key asked for it.
        """
        version, variant = live.require_stable(), STABLE
        logged = key is not None and live.rollout is not None
        if logged and variant_for(live.rollout, key) == CANDIDATE and live.candidate:
            version, variant = live.candidate, CANDIDATE
        rendered = None
        if variables:
            check_render_variables(version, variables)
            rendered = templates.render(version.template, variables)
        render_id = str(uuid.uuid4()) if logged else None
        if logged:
            self.renders.submit(
                {"id": render_id, "prompt_id": version.prompt_id, "version": version.version,
                 "variant": variant, "targeting_key": key, "rollout_id": live.rollout.id,
                 "rendered_at": self.clock(), "client": client}
            )  # fmt: skip
        return {
            "prompt_id": version.prompt_id,
            "version": version.version,
            "variant": variant,
            "template": version.template,
            "variables": list(version.variables),
            "rendered": rendered,
            "render_id": render_id,
            "etag": etag(version.prompt_id, version.version, variant, version.template, rendered),
        }

    def record_outcome(self, outcome: PromptOutcome, client: str | None = None) -> None:
        """Record a render's outcome once, as `client`'s: UnknownRender, or OutcomeRecorded
        the second time."""
        rid = outcome.render_id
        for attempt in range(2):
            if self.renders.is_pending(rid):
                self.renders.flush()
            record = partial(_set_outcome, outcome=outcome, now=self.clock(), client=client)
            try:
                done = self._session(record)
            except IntegrityError:  # a concurrent post of the same render inserted first
                done = False
            if done:
                return
            if self._session(lambda repo: repo.render_exists(rid)):
                raise OutcomeRecorded(f"render {rid!r} already has an outcome")
            if attempt == 0:
                # Another gateway worker may hold it in its buffer: wait out one flush.
                time.sleep(2 * self.renders.flush_seconds)
        raise UnknownRender(f"unknown render id {rid!r}: no canary logged it")

    def _session(self, work: Callable[[PromptRepository], Any]) -> Any:
        # Not Store.write: outcomes touch no audit event, so they need not queue on its lock.
        try:
            with self.gov.engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    return work(PromptRepository(conn))
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreUnavailable(f"governance database unreachable: {reason}") from None


def _set_outcome(
    repo: PromptRepository, *, outcome: PromptOutcome, now: datetime, client: str | None
) -> bool:
    return repo.set_outcome(
        outcome.render_id, outcome.success, outcome.latency_ms, now, client=client
    )


def etag(prompt_id: str, version: str, variant: str, template: str, rendered: str | None) -> str:
    """A strong ETag over what a response served: the rendering if any, else the template."""
    served = ["rendered", rendered] if rendered is not None else ["template", template]
    canonical = json.dumps([prompt_id, version, variant, *served], ensure_ascii=False)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names `tag` (weak comparison, as RFC 9110 says)."""
    if not if_none_match:
        return False
    given = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in given or tag in given


def parse_query(request: Request) -> tuple[str | None, dict[str, str]]:
    """The targeting key and `var.NAME` variables; InvalidInput naming anything else."""
    key, variables, unknown = None, {}, []
    for name, value in request.query_params.multi_items():
        if name == "targeting_key" and key is None:
            key = value
        elif name.startswith(VAR_PREFIX) and name[len(VAR_PREFIX) :] not in variables:
            variables[name[len(VAR_PREFIX) :]] = value
        else:
            unknown.append(name)
    if unknown:
        raise InvalidInput(
            f"unknown or repeated query parameter(s) {', '.join(sorted(set(unknown)))}: "
            "give targeting_key once and each variable once as var.NAME"
        )
    if key is not None and not 0 < len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(f"targeting_key must be 1 to {MAX_KEY_CHARS} characters")
    if "" in variables:
        raise InvalidInput("a variable parameter needs a name: var.NAME")
    return key, variables


def _serving(request: Request) -> PromptServing:
    found = getattr(request.app.state, "prompts", None)
    if found is None:
        raise NotReady("the gateway is starting")
    return found


router = APIRouter(route_class=GatewayRoute)
ERROR = {"description": "What was wrong", "content": {"application/json": {}}}


@router.get("/v1/prompts/{prompt_id}", responses={c: ERROR for c in (400, 401, 403, 404, 503)})
async def get_prompt(prompt_id: str, request: Request) -> Response:
    """A prompt's production version, or its canary's candidate for the key's share."""
    serving = _serving(request)
    key, variables = parse_query(request)
    live = serving.cache.cached(prompt_id)
    if live is None:
        live = await run_in_threadpool(serving.cache.load, prompt_id)
    client = client_app(request)
    # Rendering a template runs in the sandbox: with variables, a worker thread does it.
    if variables:
        answer = await run_in_threadpool(serving.serve, live, key, variables, client)
    else:
        answer = serving.serve(live, key, variables, client)
    headers = {
        "ETag": answer["etag"],
        "Cache-Control": LOGGED_CACHE_CONTROL if answer["render_id"] else CACHE_CONTROL,
    }
    if answer["render_id"]:
        headers[RENDER_ID_HEADER] = answer["render_id"]
    if matches(request.headers.get("if-none-match"), answer["etag"]):
        return Response(status_code=304, headers=headers)
    return JSONResponse(answer, headers=headers)


@router.post("/v1/prompts/outcomes", responses={c: ERROR for c in (400, 401, 403, 404, 409)})
def prompt_outcome(body: PromptOutcome, request: Request) -> JSONResponse:
    """Record whether a logged render's LLM call succeeded, and its latency; once."""
    try:
        _serving(request).record_outcome(body, client_app(request))
    except OutcomeRecorded as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    return JSONResponse({"render_id": body.render_id, "recorded": True})
