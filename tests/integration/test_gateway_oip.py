"""The gateway's Open Inference Protocol v2 routes over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest
from gatewaykit import (
    ENDPOINT,
    FEATURES,
    client_headers,
    gateway_thread,
    logged,
    serve_churn,
    tensors,
)

ROWS = [{"age": 30, "income": 4, "tenure": 1}, {"age": 62, "income": 7, "tenure": 0}]


@pytest.fixture
def gateway(gov, register_churn, now):
    """A live gateway over churn 1.0.0 behind endpoint churn-api: (client, app)."""
    serve_churn(gov, register_churn, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def flushed(app) -> None:
    """Wait until the prediction log has written what it was handed."""
    assert app.state.gateway.log.wait_flushed()


def test_health_and_model_metadata(gateway):
    client, _ = gateway
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get(f"/v2/models/{ENDPOINT}").json()
    assert meta["name"] == ENDPOINT and meta["versions"] == ["1.0.0"]
    assert meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES]
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]


def test_infer_answers_with_version_variant_and_logs_each_row(gov, gateway):
    client, app = gateway
    body = {"id": "req-1", "parameters": {"targeting_key": "user-7"}, "inputs": tensors(ROWS)}
    answer = client.post(f"/v2/models/{ENDPOINT}/infer", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["model_name"], data["model_version"], data["id"]) == (ENDPOINT, "1.0.0", "req-1")
    params = data["parameters"]
    assert (params["variant"], params["version"], params["targeting_key"]) == (
        "stable",
        "1.0.0",
        "user-7",
    )
    assert params["targeting_key_generated"] is False
    ids = params["prediction_ids"]
    assert len(ids) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    [output] = data["outputs"]
    assert (output["name"], output["shape"], output["datatype"]) == ("predict", [2], "INT64")
    assert set(output["data"]) <= {0, 1}
    flushed(app)
    rows = {r["id"]: r for r in logged(gov)}
    assert set(rows) == set(ids)
    first = rows[ids[0]]
    assert (first["endpoint"], first["version"], first["variant"], first["status"]) == (
        ENDPOINT,
        "1.0.0",
        "stable",
        "ok",
    )
    assert first["features"] == ROWS[0] and first["output"] == output["data"][0]
    assert first["latency_ms"] > 0 and 0 <= first["bucket"] < 10_000


def test_one_two_dimensional_tensor_in_feature_order_and_a_generated_key(gov, gateway):
    client, _ = gateway
    matrix = {
        "name": "input-0",
        "shape": [2, 3],
        "datatype": "INT64",
        "data": [[30, 4, 1], [62, 7, 0]],
    }
    answer = client.post(f"/v2/models/{ENDPOINT}/infer", json={"inputs": [matrix]})
    assert answer.status_code == 200, answer.text
    named = client.post(f"/v2/models/{ENDPOINT}/infer", json={"inputs": tensors(ROWS)})
    assert answer.json()["outputs"][0]["data"] == named.json()["outputs"][0]["data"]
    params = answer.json()["parameters"]
    assert params["targeting_key_generated"] is True and len(params["targeting_key"]) == 32


BAD_INPUTS = [
    (
        "wrong shape",
        [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}],
        "input 'input-0': wrong shape [1, 2]: a single tensor must be [n, 3]",
    ),
    (
        "feature tensor of rank 3",
        [{"name": f, "shape": [1, 1, 1], "datatype": "FP64", "data": [1.0]} for f in FEATURES],
        "input 'age': wrong shape [1, 1, 1]: a feature tensor is [n] or [n, 1]",
    ),
    (
        "data not matching the shape",
        [{"name": f, "shape": [2], "datatype": "FP64", "data": [1.0]} for f in FEATURES],
        "input 'age': shape [2] needs 2 values, data holds 1",
    ),
    (
        "wrong datatype",
        [{"name": f, "shape": [1], "datatype": "BYTES", "data": ["x"]} for f in FEATURES],
        "input 'age': datatype BYTES is not numeric",
    ),
    (
        "value not of its datatype",
        [
            {"name": f, "shape": [1], "datatype": "INT64", "data": [1.5 if f == "income" else 1]}
            for f in FEATURES
        ],
        "input 'income': datatype INT64 cannot hold float 1.5",
    ),
    (
        "missing feature",
        [{"name": f, "shape": [1], "datatype": "FP64", "data": [1.0]} for f in FEATURES[:2]],
        "missing feature(s) ['tenure']",
    ),
]


def test_each_bad_input_is_a_400_naming_it_and_nothing_is_logged(gov, gateway):
    client, app = gateway
    for case, inputs, words in BAD_INPUTS:
        answer = client.post(f"/v2/models/{ENDPOINT}/infer", json={"inputs": inputs})
        assert answer.status_code == 400, (case, answer.text)
        assert words in answer.json()["error"], case
    flushed(app)
    assert logged(gov) == []


def test_unknown_endpoint_oversize_body_and_unknown_outcome(gov, gateway):
    client, app = gateway
    unknown = client.post("/v2/models/nope/infer", json={"inputs": tensors(ROWS)})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown endpoint 'nope'"}
    assert client.get("/v2/models/nope").status_code == 404
    huge = {"inputs": tensors(ROWS), "parameters": {"pad": "x" * (1 << 20)}}
    too_big = client.post(f"/v2/models/{ENDPOINT}/infer", json=huge)
    assert too_big.status_code == 413
    assert "over the limit of 1048576" in too_big.json()["error"]
    missing = str(uuid.uuid4())
    outcome = client.post("/v1/outcomes", json={"prediction_id": missing, "label": 1})
    assert outcome.status_code == 404
    assert outcome.json() == {"error": f"unknown prediction id {missing!r}: no such prediction"}
    flushed(app)
    assert logged(gov) == []


def test_malformed_json_is_a_400_in_the_oip_error_shape(gateway):
    client, _ = gateway
    answer = client.post(
        f"/v2/models/{ENDPOINT}/infer",
        content=b'{"inputs": [',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("invalid request: body")
