"""The gateway's HTTP surface: Open Inference Protocol v2, plain JSON, outcomes and metrics.

`create_app` is the uvicorn factory (`governance serve`); each worker process builds its own
Gateway from the GOVERNANCE_* settings. The OIP routes live in oip_routes.py, the prompt
routes in prompt_routes.py; every route reads its body as request_body.py says. Every error
answers `{"error": message}` with the status `errors.status_for` gives its type.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from governance.bootstrap import Governance, open_governance
from governance.config import Settings, load_settings
from governance.domain.errors import GovernanceError
from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER, routing_scope
from governance.serving.client_auth import HOW
from governance.serving.client_door import SMOKE, ClientDoor, client_app
from governance.serving.errors import ClientKeyRefused, status_for
from governance.serving.gateway import SMOKE_CLIENT, Gateway
from governance.serving.oip import OutcomeRequest, PredictRequest, decode_rows, plain
from governance.serving.oip_routes import ANSWERS, gateway_of, record_served
from governance.serving.oip_routes import router as oip_router
from governance.serving.prompt_routes import PromptServing
from governance.serving.prompt_routes import router as prompt_router
from governance.serving.request_body import GatewayRoute
from governance.serving.routing_view import full_routing, public_routing
from governance.serving.size_limit import BodyLimit


def _package_version() -> str:
    try:
        return version("governance")
    except PackageNotFoundError:
        return "0"


def create_app(settings: Settings | None = None, gov: Governance | None = None) -> FastAPI:
    """The gateway app; opens its own Governance from `settings` (or the environment)."""
    settings = gov.settings if gov is not None else settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        """Build and start the Gateway and prompt serving; on shutdown stop and flush them."""
        opened = gov or open_governance(settings)
        gateway = Gateway(opened)
        await run_in_threadpool(gateway.start)
        prompts = app.state.prompts = PromptServing(opened, gateway.clock)
        prompts.start()
        app.state.gateway = gateway
        try:
            yield
        finally:
            await run_in_threadpool(prompts.stop)
            await run_in_threadpool(gateway.stop)
            if gov is None:
                opened.close()

    app = FastAPI(
        title="governance gateway",
        version=_package_version(),
        lifespan=lifespan,
        # A JSON body without a Content-Type is read as JSON: tritonclient sends none.
        strict_content_type=False,
    )
    app.router.route_class = GatewayRoute
    app.add_middleware(BodyLimit, limit=settings.gateway_max_body_bytes)
    # Added last, so outermost: a request's client key is checked before its body is read.
    app.add_middleware(ClientDoor)
    _errors(app)
    app.include_router(oip_router)
    _routes(app)
    app.include_router(prompt_router)
    return app


def _errors(app: FastAPI) -> None:
    def counted(request: Request, status: int) -> None:
        """Count an error answer (unknown endpoint names share one label)."""
        gateway: Gateway | None = getattr(request.app.state, "gateway", None)
        name = request.path_params.get("endpoint")
        if gateway is not None and name is not None:
            known = name if name in gateway.routing.routes else "unknown"
            version, variant = getattr(request.state, "served_by", ("", ""))
            gateway.metrics.failed(known, version, variant, status)

    @app.exception_handler(GovernanceError)
    async def refused(request: Request, exc: GovernanceError) -> JSONResponse:
        """A typed refusal, with the status its type maps to."""
        status = status_for(exc)
        counted(request, status)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A body that does not fit the schema: 400 naming the first fields at fault."""
        counted(request, 400)
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        ]
        return JSONResponse({"error": "invalid request: " + "; ".join(problems)}, 400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def unreachable(request: Request, exc: DBAPIError) -> JSONResponse:
        """The database went away mid-request (e.g. loading a version not yet cached): 503."""
        counted(request, 503)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        return JSONResponse({"error": f"governance database unreachable: {reason}"}, 503)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own errors (unknown path, wrong method) in the same shape."""
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)


def _routes(app: FastAPI) -> None:
    @app.post("/v1/endpoints/{endpoint}/predict", responses=ANSWERS)
    async def predict(endpoint: str, body: PredictRequest, request: Request) -> JSONResponse:
        """Plain JSON rows in; one prediction per row, each naming its version and variant."""
        started = time.perf_counter()
        gw = gateway_of(request)
        credential = request.headers.get(CREDENTIAL_HEADER)
        client = client_app(request)
        if client == SMOKE:
            if body.slot is None:  # only a slot request may stand on the smoke credential
                gw.metrics.refused_client("missing")
                raise ClientKeyRefused(
                    f"no client key (a {CREDENTIAL_HEADER} opens slots only): {HOW}"
                )
            client = SMOKE_CLIENT
        assignment = gw.assign(
            endpoint,
            body.targeting_key,
            body.attributes,
            body.slot,
            credential=credential,
            client=client,
        )
        decision = assignment.decision
        request.state.served_by = (decision.version, decision.variant)
        # Loading, decoding and predicting block: a worker thread runs them, not the loop.
        decode = partial(decode_rows, body.rows)
        served = await run_in_threadpool(gw.serve, assignment, decode, started)
        answer = {
            "endpoint": endpoint,
            **assignment.describe(),
            "predictions": [
                {
                    "prediction_id": pid,
                    "version": decision.version,
                    "variant": decision.variant,
                    "output": value,
                }
                for pid, value in zip(served.ids, plain(served.outputs), strict=True)
            ],
        }
        record_served(gw, assignment, started)
        return JSONResponse(answer)

    @app.post("/v1/outcomes", responses=ANSWERS)
    def outcome(body: OutcomeRequest, request: Request) -> JSONResponse:
        """Record the label and metrics of an earlier prediction, by its id, once.

        A retry of the same outcome answers 200 with `already_recorded`; a different outcome
        for the same prediction answers 409 naming it (the first one recorded stands). The
        client key must be scoped to the endpoint that made the prediction (403 otherwise).
        """
        client = getattr(request.state, "client", None)
        # sync: FastAPI runs it in a thread
        fresh = gateway_of(request).record_outcome(body, client)
        answer = {"prediction_id": body.prediction_id, "recorded": True}
        return JSONResponse({**answer, "already_recorded": not fresh})

    @app.get("/v1/endpoints/{endpoint}", responses=ANSWERS)
    async def live_routing(endpoint: str, request: Request) -> JSONResponse:
        """What a client needs to know of the endpoint's live routing; all of it with a credential.

        Without a credential: the model, the versions it serves and the mode. With one for
        `routing ENDPOINT` (trusted infrastructure, e.g. HttpSpecSource): also the bucketing
        seed, the whole spec, and who changed it, when and why.
        """
        gw = gateway_of(request)
        credential = request.headers.get(CREDENTIAL_HEADER)
        if credential is not None:
            gw.require(routing_scope(endpoint), credential, f"for the full routing of {endpoint!r}")
        live = gw.routing.get(endpoint)
        return JSONResponse(full_routing(live) if credential is not None else public_routing(live))

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus metrics in the text exposition format."""
        gw = gateway_of(request)
        # With several workers this reads every worker's metric files.
        text = await run_in_threadpool(gw.metrics.exposition)
        return Response(text, media_type=gw.metrics.content_type)
