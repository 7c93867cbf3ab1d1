"""The governance server's HTTP surface (`governance server run`).

Every call but health, the command manifest and login carries `Authorization: Bearer TOKEN`;
the actor is always that token's person. Commands run in the threadpool with their output
captured; every refusal answers `{"error": {"type", "message"}}` with the status
`errors.status_for` gives its type, and 401s and 403s are appended to the audit trail.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prefect.client.orchestration import get_client
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from governance import cli
from governance.bootstrap import Governance, open_governance
from governance.config import Settings, load_settings
from governance.domain.errors import GovernanceError, InvalidInput, StoreUnavailable
from governance.domain.identity import VerifiedActor
from governance.server import auth, capture, manifest
from governance.server.blobs import BlobStore, check_digest
from governance.server.commands import CommandResult
from governance.server.commands import run as run_command
from governance.server.console import app as console
from governance.server.errors import UploadTooLarge, body_for, status_for
from governance.server.queries import router as queries_router
from governance.services.trust import identity

log = logging.getLogger("governance.server")


def now() -> datetime:
    """The server is an entrypoint: it reads the clock for the calls it serves."""
    return datetime.now(UTC)


def _package_version() -> str:
    try:
        return version("governance")
    except PackageNotFoundError:
        return "0"


class LoginBody(BaseModel):
    """`POST /v1/sessions`: who logs in, with which one-time code, for how long."""

    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=32)
    hours: float = 8


def gov_of(request: Request) -> Governance:
    """The server process's Governance."""
    return request.app.state.gov


async def caller(request: Request) -> VerifiedActor:
    """The verified person of this call's bearer token (kept for the refusal record)."""
    header = request.headers.get("authorization")
    actor = await run_in_threadpool(auth.authenticate, gov_of(request), header, now=now())
    request.state.actor = actor
    return actor


def create_app(settings: Settings | None = None, gov: Governance | None = None) -> FastAPI:
    """The server app; opens its own Governance from `settings` (or the environment)."""
    settings = gov.settings if gov is not None else settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        """Open the store, route command output per request, and index the commands."""
        opened = gov or open_governance(settings)
        policy = opened.policy  # a bad policy stops the server at start, naming the key
        log.info("policy %s: %d people in the roster", policy.version[:12], len(policy.roster))
        capture.install()
        app.state.gov = opened
        app.state.catalogue = manifest.commands(cli.app)
        app.state.manifest = manifest.manifest(cli.app)
        app.state.blobs = BlobStore(
            settings.resolved_server_blob_dir, settings.server_max_upload_bytes
        )
        try:
            yield
        finally:
            if gov is None:
                opened.close()

    app = FastAPI(title="governance server", version=_package_version(), lifespan=lifespan)
    _install_error_handlers(app)
    app.include_router(queries_router)

    @app.get("/v1/health")
    def health() -> dict:
        """Liveness, and the server's clock (one-time codes are checked against it)."""
        return {"status": "ok", "version": _package_version(), "time": now().isoformat()}

    @app.post("/v1/sessions", status_code=201)
    async def login(body: LoginBody, request: Request) -> dict:
        """Verify a one-time code and open a server-side session; the token is shown once."""
        gov = gov_of(request)
        ticket = await run_in_threadpool(_login, gov, body.name, body.code, body.hours, now())
        return {
            "token": ticket.token,
            "person": ticket.person,
            "expires_at": ticket.expires_at.isoformat(),
            "identity": gov.policy.identity,
        }

    @app.delete("/v1/sessions/current")
    async def logout(request: Request) -> dict:
        """End the calling session (the token stops working at once)."""
        await caller(request)
        token = auth.bearer(request.headers.get("authorization"))
        ended = await run_in_threadpool(_logout, gov_of(request), token, now())
        return {"ended": ended}

    @app.get("/v1/whoami")
    async def whoami(request: Request) -> dict:
        """Who the token is, their roles, and until when the session lasts."""
        actor = await caller(request)
        gov = gov_of(request)
        header = request.headers.get("authorization")
        expires = await run_in_threadpool(auth.expiry, gov, header)
        return {
            "name": actor.name,
            "roles": list(gov.policy.roster.get(actor.name, [])),
            "method": actor.method,
            "expires_at": expires.isoformat() if expires else None,
        }

    @app.get("/v1/commands")
    def commands_manifest(request: Request) -> dict:
        """The commands served here, with their parameters (no token needed)."""
        return request.app.state.manifest

    @app.post("/v1/commands/{path:path}")
    async def command(path: str, request: Request) -> dict:
        """Run one CLI command as the token's person; its output, exit code and files."""
        actor = await caller(request)
        body = await _json_object(request)
        parts = tuple(p for p in path.split("/") if p)
        result: CommandResult = await run_in_threadpool(
            run_command,
            gov_of(request),
            actor,
            request.app.state.blobs,
            request.app.state.catalogue,
            parts,
            body,
        )
        return result.__dict__

    @app.put("/v1/blobs/{digest}")
    async def upload(digest: str, request: Request) -> dict:
        """Stream a file a command will read; kept only if it hashes to `digest`."""
        await caller(request)
        blobs: BlobStore = request.app.state.blobs
        check_digest(digest)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > blobs.max_bytes:
            raise UploadTooLarge(
                f"upload of {declared} bytes is over the limit of {blobs.max_bytes} bytes "
                "(GOVERNANCE_SERVER_MAX_UPLOAD_BYTES)"
            )
        size = await blobs.receive(digest, request.stream())
        return {"sha256": digest, "size": size}

    @app.get("/v1/flow-runs/{run_id}")
    async def flow_run(run_id: UUID, request: Request) -> dict:
        """The state of a flow run a command started, for the client that follows it."""
        await caller(request)
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
        state = run.state
        return {
            "id": str(run.id),
            "state": state.name if state else None,
            "message": (state.message or "") if state else "",
            "final": bool(state and state.is_final()),
        }

    # Last: the console's routes sit at / and wrap the refusal handlers installed above.
    console.mount(app)
    return app


def _login(gov: Governance, name: str, code: str | None, hours: float, when: datetime):
    return identity.login(gov, name, code, now=when, hours=hours)


def _logout(gov: Governance, token: str | None, when: datetime) -> str | None:
    return identity.logout(gov, token, now=when)


async def _json_object(request: Request) -> dict:
    """The body as a JSON object (an empty body is no parameters)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidInput("the body is not JSON: send the command's parameters by name") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object of the command's parameters")
    return body


def _install_error_handlers(app: FastAPI) -> None:
    """Every refusal as `{"error": {...}}`; 401s and 403s also go on the audit trail."""

    @app.exception_handler(GovernanceError)
    async def refused(request: Request, exc: GovernanceError) -> JSONResponse:
        status = status_for(exc)
        if status in (401, 403):
            actor = getattr(request.state, "actor", None)
            await run_in_threadpool(
                _record_refusal, request, actor.name if actor else None, status, exc
            )
        return JSONResponse(body_for(exc), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
            for e in exc.errors()
        ]
        error = InvalidInput("bad request body: " + "; ".join(problems))
        return JSONResponse(body_for(error), status_code=422)

    @app.exception_handler(DBAPIError)
    async def database(request: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        error = StoreUnavailable("the governance database refused the call; see the server log")
        return JSONResponse(body_for(error), status_code=503)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {"error": {"type": "InternalError", "message": "internal error; see the server log"}}
        return JSONResponse(body, status_code=500)


def _record_refusal(request: Request, actor: str | None, status: int, exc: GovernanceError):
    try:
        auth.record_refusal(
            gov_of(request),
            actor=actor,
            method=request.method,
            path=request.url.path,
            status=status,
            error=exc,
            now=now(),
        )
    except Exception:  # the refusal stands even if the trail cannot take its record
        log.exception("could not record the refusal of %s %s", request.method, request.url.path)
