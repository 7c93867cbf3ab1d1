"""The gateway's Open Inference Protocol v2 routes: health, metadata, readiness and inference.

An endpoint is an OIP model. Unversioned paths follow the live routing; versioned paths
(`/v2/models/{endpoint}/versions/{version}/...`) serve only a version that routing serves
now (served_versions.py), and answer 404 naming what it serves otherwise. Inference takes
JSON tensors or the binary tensor data extension, and answers in either (binary_tensors.py).
Loading, decoding and predicting run in a worker thread: the event loop never waits on them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from governance.domain.rollout import NoRoute
from governance.serving.binary_tensors import (
    EXTENSION,
    OUTPUT,
    SIZE,
    binary_answer,
    encode,
    with_binary_data,
)
from governance.serving.client_door import client_app
from governance.serving.errors import NotReady
from governance.serving.gateway import Assignment, Gateway
from governance.serving.oip import InferenceRequest, decode_tensors, output_datatype, plain
from governance.serving.request_body import BINARY_HEADER, GatewayRequest, GatewayRoute
from governance.serving.routing_cache import LiveRoute
from governance.serving.served_versions import check_served, served_versions

ERROR = {"description": "What was wrong", "content": {"application/json": {}}}
ANSWERS = {code: ERROR for code in (400, 401, 403, 404, 409, 413, 500, 503)}
MODEL = "/v2/models/{endpoint}"
VERSION = MODEL + "/versions/{version}"

router = APIRouter(route_class=GatewayRoute)


def gateway_of(request: Request) -> Gateway:
    """The app's started Gateway, or NotReady while it is starting."""
    found = getattr(request.app.state, "gateway", None)
    if found is None:
        raise NotReady("the gateway is starting")
    return found


@router.get("/v2/health/live")
async def live() -> JSONResponse:
    """OIP liveness: the process answers."""
    return JSONResponse({"live": True})


@router.get("/v2/health/ready", responses={503: ERROR})
async def ready(request: Request) -> JSONResponse:
    """OIP readiness: the routing is loaded."""
    found = getattr(request.app.state, "gateway", None)
    if found is None or not found.routing.loaded:
        raise NotReady("the gateway has not loaded its routing yet")
    return JSONResponse({"ready": True})


@router.get("/v2")
async def server_metadata(request: Request) -> JSONResponse:
    """OIP server metadata, with the protocol extensions the gateway supports."""
    meta = {"name": "governance-gateway", "version": request.app.version}
    return JSONResponse({**meta, "extensions": [EXTENSION]})


@router.get(MODEL, responses=ANSWERS)
async def model_metadata(endpoint: str, request: Request) -> JSONResponse:
    """OIP model metadata: the versions served now, and the production version's tensors."""
    gw = gateway_of(request)
    live = gw.routing.get(endpoint)
    stable = live.spec.spec.stable
    if stable is None:
        raise NoRoute(f"endpoint {endpoint!r} has no production version to serve yet")
    facts = {"model": live.endpoint.model_name, "production_version": stable}
    return await _metadata(gw, live, stable, facts)


@router.get(VERSION, responses=ANSWERS)
async def version_metadata(endpoint: str, version: str, request: Request) -> JSONResponse:
    """OIP model metadata of one version the endpoint serves now (404 for any other)."""
    gw = gateway_of(request)
    live = gw.routing.get(endpoint)
    variants = check_served(endpoint, version, live.spec.spec)
    facts = {"model": live.endpoint.model_name, "version": version, "variants": variants}
    return await _metadata(gw, live, version, facts)


async def _metadata(gw: Gateway, live: LiveRoute, version: str, facts: dict) -> JSONResponse:
    model = await run_in_threadpool(gw.models.get, live.endpoint.model_name, version)
    output = output_datatype(np.empty(0, dtype=model.output_dtype))
    return JSONResponse(
        {
            "name": live.endpoint.name,
            "versions": list(served_versions(live.spec.spec)),
            "platform": "sklearn",
            "inputs": [{"name": f, "datatype": "FP64", "shape": [-1]} for f in model.features],
            "outputs": [{"name": OUTPUT, "datatype": output, "shape": [-1]}],
            "parameters": facts,
        }
    )


@router.get(MODEL + "/ready", responses=ANSWERS)
async def model_ready(endpoint: str, request: Request) -> JSONResponse:
    """OIP model readiness: routed, and the production version is loaded."""
    gw = gateway_of(request)
    live = gw.routing.get(endpoint)
    stable = live.spec.spec.stable
    if stable is None or gw.models.cached(live.endpoint.model_name, stable) is None:
        raise NoRoute(f"endpoint {endpoint!r} has no loaded production version")
    return JSONResponse({"name": endpoint, "ready": True})


@router.get(VERSION + "/ready", responses=ANSWERS)
async def version_ready(endpoint: str, version: str, request: Request) -> JSONResponse:
    """OIP model readiness of one version: served now (else 404) and loaded (else 503)."""
    gw = gateway_of(request)
    live = gw.routing.get(endpoint)
    check_served(endpoint, version, live.spec.spec)
    if gw.models.cached(live.endpoint.model_name, version) is None:
        raise NoRoute(f"endpoint {endpoint!r} has not loaded version {version} yet")
    return JSONResponse({"name": endpoint, "version": version, "ready": True})


@router.post(MODEL + "/infer", responses=ANSWERS)
async def infer(endpoint: str, body: InferenceRequest, request: Request) -> Response:
    """OIP inference; `parameters.targeting_key` and other parameters steer routing."""
    started = time.perf_counter()
    gw = gateway_of(request)
    params = dict(body.parameters or {})
    key = params.pop("targeting_key", None)
    params.pop("binary_data_output", None)  # the protocol's, not a routing attribute
    client = client_app(request)
    assignment = gw.assign(endpoint, None if key is None else str(key), params, client=client)
    return await _infer(gw, assignment, body, request, started)


@router.post(VERSION + "/infer", responses=ANSWERS)
async def infer_version(
    endpoint: str, version: str, body: InferenceRequest, request: Request
) -> Response:
    """OIP inference by one version the routing serves now, logged as variant pinned:VERSION."""
    started = time.perf_counter()
    gw = gateway_of(request)
    key = (body.parameters or {}).get("targeting_key")
    client = client_app(request)
    assignment = gw.pin(endpoint, version, None if key is None else str(key), client=client)
    return await _infer(gw, assignment, body, request, started)


async def _infer(
    gw: Gateway, assignment: Assignment, body: InferenceRequest, request: Request, started: float
) -> Response:
    decision = assignment.decision
    request.state.served_by = (decision.version, decision.variant)
    binary = binary_answer(body.parameters or {}, body.outputs)
    tail = await request.tensor_bytes() if isinstance(request, GatewayRequest) else b""

    def decode(features: tuple[str, ...]):
        """The request's tensors (binary ones decoded) as the model's input rows."""
        return decode_tensors(with_binary_data(body.inputs, tail), features)

    served = await run_in_threadpool(gw.serve, assignment, decode, started)
    facts: dict[str, Any] = {**assignment.describe(), "prediction_ids": served.ids}
    if len(served.ids) == 1:
        facts["prediction_id"] = served.ids[0]
    answer = {
        "model_name": assignment.route.endpoint.name,
        "model_version": decision.version,
        "id": body.id or str(uuid.uuid4()),
        "parameters": facts,
    }
    response = _respond(answer, served.outputs, binary)
    record_served(gw, assignment, started)
    return response


def _respond(answer: dict, outputs: np.ndarray, binary: bool) -> Response:
    """The answer as JSON, or as a JSON header followed by the output's bytes."""
    datatype = output_datatype(outputs)
    tensor = {"name": OUTPUT, "shape": [len(outputs)], "datatype": datatype}
    if not binary:
        return JSONResponse({**answer, "outputs": [{**tensor, "data": plain(outputs)}]})
    raw = encode(outputs, datatype)
    header = {**answer, "outputs": [{**tensor, "parameters": {SIZE: len(raw)}}]}
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        text + raw,
        media_type="application/octet-stream",
        headers={BINARY_HEADER: str(len(text))},
    )


def record_served(gw: Gateway, assignment: Assignment, started: float) -> None:
    """Count an answered prediction request and its latency."""
    decision = assignment.decision
    gw.metrics.served(
        assignment.route.endpoint.name,
        decision.version,
        decision.variant,
        time.perf_counter() - started,
    )
