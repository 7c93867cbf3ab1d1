"""The gateway's HTTP surface: Open Inference Protocol v2, plain JSON, outcomes and metrics.

`create_app` is the uvicorn factory (`governance serve`); each worker process builds its own
Gateway from the GOVERNANCE_* settings. Every error answers `{"error": message}` with the
status `errors.status_for` gives its type.
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from governance.bootstrap import Governance, open_governance
from governance.config import Settings, load_settings
from governance.domain.errors import GovernanceError
from governance.domain.rollout import NoRoute
from governance.serving.errors import NotReady, status_for
from governance.serving.gateway import Assignment, Gateway
from governance.serving.oip import (
    InferenceRequest,
    OutcomeRequest,
    PredictRequest,
    decode_rows,
    decode_tensors,
    output_datatype,
    plain,
)
from governance.serving.prompt_routes import PromptServing
from governance.serving.prompt_routes import router as prompt_router
from governance.serving.size_limit import BodyLimit

ERROR = {"description": "What was wrong", "content": {"application/json": {}}}
ANSWERS = {400: ERROR, 404: ERROR, 413: ERROR, 500: ERROR, 503: ERROR}


def _package_version() -> str:
    try:
        return version("governance")
    except PackageNotFoundError:
        return "0"


def create_app(settings: Settings | None = None, gov: Governance | None = None) -> FastAPI:
    """The gateway app; opens its own Governance from `settings` (or the environment)."""
    holder: dict[str, Gateway] = {}
    settings = gov.settings if gov is not None else settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        """Build and start the Gateway and prompt serving; on shutdown stop and flush them."""
        opened = gov or open_governance(settings)
        gateway = Gateway(opened)
        await run_in_threadpool(gateway.start)
        prompts = app.state.prompts = PromptServing(opened, gateway.clock)
        prompts.start()
        holder["gateway"] = app.state.gateway = gateway
        try:
            yield
        finally:
            await run_in_threadpool(prompts.stop)
            await run_in_threadpool(gateway.stop)
            if gov is None:
                opened.close()

    app = FastAPI(title="governance gateway", version=_package_version(), lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=settings.gateway_max_body_bytes)
    _errors(app, holder)
    _routes(app, holder)
    app.include_router(prompt_router)
    return app


def _errors(app: FastAPI, holder: dict[str, Gateway]) -> None:
    def counted(request: Request, status: int) -> None:
        """Count an error answer (unknown endpoint names share one label)."""
        gateway, name = holder.get("gateway"), request.path_params.get("endpoint")
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


def _routes(app: FastAPI, holder: dict[str, Gateway]) -> None:
    def gateway() -> Gateway:
        """The started Gateway, or NotReady while the app is starting."""
        found = holder.get("gateway")
        if found is None:
            raise NotReady("the gateway is starting")
        return found

    @app.get("/v2/health/live")
    async def live() -> JSONResponse:
        """OIP liveness: the process answers."""
        return JSONResponse({"live": True})

    @app.get("/v2/health/ready", responses={503: ERROR})
    async def ready() -> JSONResponse:
        """OIP readiness: the routing is loaded."""
        found = holder.get("gateway")
        if found is None or not found.routing.loaded:
            raise NotReady("the gateway has not loaded its routing yet")
        return JSONResponse({"ready": True})

    @app.get("/v2")
    async def server_metadata() -> JSONResponse:
        """OIP server metadata."""
        meta = {"name": "governance-gateway", "version": app.version, "extensions": []}
        return JSONResponse(meta)

    @app.get("/v2/models/{endpoint}", responses=ANSWERS)
    async def model_metadata(endpoint: str) -> JSONResponse:
        """OIP model metadata: versions and the production version's inputs and output."""
        gw = gateway()
        live = gw.routing.get(endpoint)
        stable = live.spec.spec.stable
        if stable is None:
            raise NoRoute(f"endpoint {endpoint!r} has no production version to serve yet")
        model = await run_in_threadpool(gw.models.get, live.endpoint.model_name, stable)
        output = output_datatype(np.empty(0, dtype=model.output_dtype))
        return JSONResponse(
            {
                "name": endpoint,
                "versions": sorted(live.spec.spec.versions()),
                "platform": "sklearn",
                "inputs": [{"name": f, "datatype": "FP64", "shape": [-1]} for f in model.features],
                "outputs": [{"name": "predict", "datatype": output, "shape": [-1]}],
                "parameters": {"model": live.endpoint.model_name, "production_version": stable},
            }
        )

    @app.get("/v2/models/{endpoint}/ready", responses=ANSWERS)
    async def model_ready(endpoint: str) -> JSONResponse:
        """OIP model readiness: routed, and the production version is loaded."""
        live = gateway().routing.get(endpoint)
        stable = live.spec.spec.stable
        if stable is None or gateway().models.cached(live.endpoint.model_name, stable) is None:
            raise NoRoute(f"endpoint {endpoint!r} has no loaded production version")
        return JSONResponse({"name": endpoint, "ready": True})

    @app.post("/v2/models/{endpoint}/infer", responses=ANSWERS)
    async def infer(endpoint: str, body: InferenceRequest, request: Request) -> JSONResponse:
        """OIP inference; `parameters.targeting_key` and other parameters steer routing."""
        started = time.perf_counter()
        gw = gateway()
        params = dict(body.parameters or {})
        key = params.pop("targeting_key", None)
        assignment = gw.assign(endpoint, None if key is None else str(key), params)
        model = await _model(gw, assignment, request)
        batch = decode_tensors(body.inputs, model.features)
        served = gw.predict(assignment, model, batch, started)
        facts = {**assignment.describe(), "prediction_ids": served.ids}
        if len(served.ids) == 1:
            facts["prediction_id"] = served.ids[0]
        answer = {
            "model_name": endpoint,
            "model_version": assignment.decision.version,
            "id": body.id or str(uuid.uuid4()),
            "parameters": facts,
            "outputs": [
                {
                    "name": "predict",
                    "shape": [len(served.ids)],
                    "datatype": output_datatype(served.outputs),
                    "data": plain(served.outputs),
                }
            ],
        }
        _served(gw, assignment, started)
        return JSONResponse(answer)

    @app.post("/v1/endpoints/{endpoint}/predict", responses=ANSWERS)
    async def predict(endpoint: str, body: PredictRequest, request: Request) -> JSONResponse:
        """Plain JSON rows in; one prediction per row, each naming its version and variant."""
        started = time.perf_counter()
        gw = gateway()
        assignment = gw.assign(endpoint, body.targeting_key, body.attributes, body.slot)
        model = await _model(gw, assignment, request)
        batch = decode_rows(body.rows, model.features)
        served = gw.predict(assignment, model, batch, started)
        decision = assignment.decision
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
        _served(gw, assignment, started)
        return JSONResponse(answer)

    @app.post("/v1/outcomes", responses=ANSWERS)
    def outcome(body: OutcomeRequest) -> JSONResponse:
        """Record the label and metrics of an earlier prediction, by its id."""
        gateway().record_outcome(body)
        return JSONResponse({"prediction_id": body.prediction_id, "recorded": True})

    @app.get("/v1/endpoints/{endpoint}", responses=ANSWERS)
    async def live_routing(endpoint: str) -> JSONResponse:
        """The routing this gateway process serves the endpoint with now."""
        live = gateway().routing.get(endpoint)
        spec = live.spec
        return JSONResponse(
            {
                "endpoint": endpoint,
                "model": live.endpoint.model_name,
                # The seed lets an OpenFeature client assign exactly as this gateway does.
                "seed": live.endpoint.seed,
                "spec": spec.number,
                "routing": spec.spec.model_dump(mode="json"),
                "versions": spec.spec.versions(),
                "changed_at": spec.created_at.isoformat(),
                "changed_by": spec.actor,
                "reason": spec.reason,
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics in the text exposition format."""
        gw = gateway()
        return Response(gw.metrics.exposition(), media_type=gw.metrics.content_type)


async def _model(gw: Gateway, assignment: Assignment, request: Request):
    """The assigned model; a load that the poll did not do yet runs off the event loop."""
    request.state.served_by = (assignment.decision.version, assignment.decision.variant)
    decision = assignment.decision
    found = gw.models.cached(assignment.route.endpoint.model_name, decision.version)
    return found if found is not None else await run_in_threadpool(gw.model_for, assignment)


def _served(gw: Gateway, assignment: Assignment, started: float) -> None:
    decision = assignment.decision
    gw.metrics.served(
        assignment.route.endpoint.name,
        decision.version,
        decision.variant,
        time.perf_counter() - started,
    )
