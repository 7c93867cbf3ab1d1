"""Schemathesis fuzzing of the live gateway's OpenAPI schema: no input earns a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from gatewaykit import ENDPOINT, client_headers, gateway_thread, logged, serve_churn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

EXAMPLES = 30  # per operation and mode: about 25 s in all on two cores


@pytest.mark.sqlite_only
def test_no_generated_request_gets_a_server_error(gov, register_churn, now):
    serve_churn(gov, register_churn, now)
    headers = client_headers(gov)
    with gateway_thread(gov.settings) as (url, app):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {
            "/v2/models/{endpoint}/infer",
            "/v1/endpoints/{endpoint}/predict",
            "/v1/outcomes",
        }
        seen: dict[str, set[int]] = {}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(operation, mode, url, seen, headers)
        assert app.state.gateway.log.wait_flushed()
        # The generated bodies did reach the real endpoint's checks, and were refused there.
        assert 400 in seen["POST /v2/models/{endpoint}/infer"]
        assert 400 in seen["POST /v1/endpoints/{endpoint}/predict"]
        # What was logged was served: a refused request leaves no record.
        assert all(record["status"] == "ok" for record in logged(gov))


def _fuzz(
    operation, mode: GenerationMode, url: str, seen: dict[str, set[int]], headers: dict[str, str]
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    # Half the cases name the real endpoint, so bodies reach decoding rather than a 404.
    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case, real: bool) -> None:
        if real and "endpoint" in (case.path_parameters or {}):
            case.path_parameters["endpoint"] = ENDPOINT
        try:
            response = case.call(base_url=url, headers=headers, timeout=10)
        except httpx.TransportError as exc:  # pragma: no cover - a crash would show here
            raise AssertionError(f"{label}: no answer: {exc}") from exc
        seen.setdefault(label, set()).add(response.status_code)
        assert response.status_code < 500, (
            f"{label} ({mode}) answered {response.status_code}: {response.text[:300]}"
        )

    try:
        run()
    except Unsatisfiable:  # nothing to make negative: the operation takes no input
        assert mode is GenerationMode.NEGATIVE
