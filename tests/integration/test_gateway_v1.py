"""The plain JSON route, outcomes, model failures and /metrics over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from gatewaykit import ENDPOINT, change_routing, client_headers, gateway_thread, logged, serve_churn

from governance.store.tables_rollout import outcomes

ROW = {"age": 50, "income": 3, "tenure": 2}


@pytest.fixture
def gateway(gov, register_churn, now):
    """A live gateway over churn 1.0.0 behind endpoint churn-api: (client, app)."""
    serve_churn(gov, register_churn, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def test_predict_then_outcome_joins_by_prediction_id(gov, gateway):
    client, app = gateway
    body = {"rows": [ROW, {**ROW, "age": 20}], "targeting_key": "u1", "attributes": {"org_id": 7}}
    answer = client.post(f"/v1/endpoints/{ENDPOINT}/predict", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["endpoint"], data["version"], data["variant"], data["spec"]) == (
        ENDPOINT,
        "1.0.0",
        "stable",
        1,
    )
    first, second = data["predictions"]
    assert {first["version"], second["version"]} == {"1.0.0"}
    assert first["variant"] == "stable" and first["output"] in (0, 1)
    # Recorded while the prediction may still sit in the write buffer: it counts as known.
    outcome = {"prediction_id": first["prediction_id"], "label": 1, "metrics": {"revenue": 12.5}}
    recorded = client.post("/v1/outcomes", json=outcome)
    assert recorded.status_code == 200, recorded.text
    assert app.state.gateway.log.wait_flushed()
    assert {r["id"] for r in logged(gov)} == {first["prediction_id"], second["prediction_id"]}
    with gov.engine.connect() as conn:
        [row] = conn.execute(outcomes.select()).all()
    assert (row.prediction_id, row.label, row.metrics) == (
        first["prediction_id"],
        1,
        {"revenue": 12.5},
    )


def test_predict_refuses_a_missing_feature_a_wrong_type_and_an_unknown_endpoint(gov, gateway):
    client, app = gateway
    url = f"/v1/endpoints/{ENDPOINT}/predict"
    missing = client.post(url, json={"rows": [{"age": 1, "income": 2}]})
    assert missing.status_code == 400
    assert missing.json() == {"error": "row 0 is missing feature(s) ['tenure']"}
    wrong = client.post(url, json={"rows": [{**ROW, "income": "high"}]})
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "row 0, feature 'income': datatype FP64 cannot hold str 'high'"
    }
    unknown = client.post("/v1/endpoints/nope/predict", json={"rows": [ROW]})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown endpoint 'nope'"})
    assert app.state.gateway.log.wait_flushed()
    assert logged(gov) == []


def test_a_model_that_raises_is_a_500_logged_as_error_unlike_bad_input(gov, gateway, now):
    client, app = gateway
    change_routing(gov, now, stable="1.2.0")  # one-hot model: an unseen tenure makes it raise
    deadline_ok = _until(lambda: client.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] == 2)
    assert deadline_ok
    fine = client.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [ROW]})
    assert fine.status_code == 200 and fine.json()["version"] == "1.2.0"
    broken = client.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [{**ROW, "tenure": 9}]})
    assert broken.status_code == 500
    assert broken.json()["error"].startswith("model churn@1.2.0 failed: ValueError: Found unknown")
    assert app.state.gateway.log.wait_flushed()
    statuses = sorted((r["status"], r["output"]) for r in logged(gov))
    assert statuses == [("error", None), ("ok", fine.json()["predictions"][0]["output"])]


def test_a_null_feature_reaches_the_model_as_nan(gov, gateway):
    client, app = gateway
    answer = client.post(
        f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [{**ROW, "income": None}]}
    )
    # churn 1.0.0 has no imputer: the model, not the input check, refuses the missing value.
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("model churn@1.0.0 failed: ValueError: Input X")
    assert app.state.gateway.log.wait_flushed()
    [record] = logged(gov)
    assert (record["status"], record["features"]) == ("error", {**ROW, "income": None})


def test_live_routing_and_metrics_count_requests_and_errors(gateway):
    client, _ = gateway
    live = client.get(f"/v1/endpoints/{ENDPOINT}").json()
    assert live == {
        "endpoint": ENDPOINT,
        "model": "churn",
        "spec": 1,
        "production_version": "1.0.0",
        "versions": ["1.0.0"],
        "mode": "stable",
    }
    for _ in range(3):
        client.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [ROW]})
    client.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [{"age": 1}]})
    text = client.get("/metrics").text
    labels = f'endpoint="{ENDPOINT}",variant="stable",version="1.0.0"'
    assert f"gateway_requests_total{{{labels}}} 3.0" in text
    assert f'gateway_errors_total{{code="400",{labels}}} 1.0' in text
    assert f"gateway_request_duration_seconds_count{{{labels}}} 3.0" in text


def _until(check, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_an_outcome_label_the_model_cannot_have_is_refused(gov, gateway):
    client, app = gateway
    answer = client.post(f"/v1/endpoints/{ENDPOINT}/predict", json={"rows": [ROW, ROW]})
    first, second = (p["prediction_id"] for p in answer.json()["predictions"])
    # the first while still buffered, the second after the log reached the database
    word = client.post("/v1/outcomes", json={"prediction_id": first, "label": "churned"})
    assert (word.status_code, word.json()) == (
        400,
        {
            "error": f"label 'churned' of prediction {first} is not numeric: the model is a "
            "classifier with classes [0, 1]"
        },
    )
    assert app.state.gateway.log.wait_flushed()
    seven = client.post("/v1/outcomes", json={"prediction_id": second, "label": 7})
    assert (seven.status_code, seven.json()) == (
        400,
        {"error": f"label 7 of prediction {second} is not one of the model's classes [0, 1]"},
    )
    with gov.engine.connect() as conn:
        assert conn.execute(outcomes.select()).all() == []
    text = client.post("/v1/outcomes", json={"prediction_id": second, "label": "1"})
    assert text.status_code == 400  # stored as text it would never equal the output 1
    fine = client.post("/v1/outcomes", json={"prediction_id": second, "label": 1})
    assert fine.status_code == 200, fine.text
