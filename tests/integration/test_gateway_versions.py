"""Versioned OIP paths serve only what the live routing serves now, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from gatewaykit import (
    ENDPOINT,
    change_routing,
    client_headers,
    gateway_thread,
    logged,
    serve_churn,
    tensors,
)

from governance.domain.rollout import ABSplit, FlagRule, bucket

ROWS = [{"age": 30, "income": 4, "tenure": 1}, {"age": 62, "income": 7, "tenure": 0}]
BASE = f"/v2/models/{ENDPOINT}/versions"


@pytest.fixture
def gateway(gov, register_churn, now):
    """A live gateway over churn-api (1.0.0 stable; 1.1.0 and 1.2.0 staged): (client, app)."""
    serve_churn(gov, register_churn, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def live_spec(client: httpx.Client, number: int) -> None:
    """Wait until the gateway serves routing spec `number`; fail the test if it never does."""
    deadline = time.monotonic() + 5
    while client.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] != number:
        assert time.monotonic() < deadline, f"spec {number} not live within 5 s"
        time.sleep(0.02)


def refused(client: httpx.Client, version: str) -> set[str]:
    """The 404 errors of metadata, ready and infer for `version` (asserting each is a 404)."""
    answers = [
        client.get(f"{BASE}/{version}"),
        client.get(f"{BASE}/{version}/ready"),
        client.post(f"{BASE}/{version}/infer", json={"inputs": tensors(ROWS)}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404], [a.text for a in answers]
    return {a.json()["error"] for a in answers}


def test_a_canary_version_is_served_by_its_path_and_logged_as_pinned(gov, gateway, now):
    client, app = gateway
    live_spec(client, change_routing(gov, now, canary="1.1.0", canary_weight=10).number)
    meta = client.get(f"{BASE}/1.1.0").json()
    assert (meta["versions"], meta["parameters"]) == (
        ["1.0.0", "1.1.0"],
        {"model": "churn", "version": "1.1.0", "variants": ["canary"]},
    )
    assert client.get(f"{BASE}/1.1.0/ready").json() == {
        "name": ENDPOINT,
        "version": "1.1.0",
        "ready": True,
    }
    body = {"inputs": tensors(ROWS), "parameters": {"targeting_key": "user-3"}}
    answer = client.post(f"{BASE}/1.1.0/infer", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    with gov.store.read() as tx:
        seed = tx.routing.find_endpoint(ENDPOINT).seed
    params = data["parameters"]
    assert (data["model_version"], params["variant"], params["routing_reason"]) == (
        "1.1.0",
        "pinned:1.1.0",
        "STATIC",
    )
    assert params["bucket"] == bucket(seed, "user-3")
    assert refused(client, "1.2.0") == {
        "version 1.2.0 is not served by endpoint 'churn-api': "
        "it serves 1.0.0 (stable), 1.1.0 (canary)"
    }
    assert app.state.gateway.log.wait_flushed()
    assert (
        sorted((r["version"], r["variant"], r["bucket"]) for r in logged(gov))
        == [("1.1.0", "pinned:1.1.0", bucket(seed, "user-3"))] * 2
    )
    # The canary ends: its version is refused from the moment the gateway obeys the change.
    live_spec(client, change_routing(gov, now, canary=None, canary_weight=0).number)
    assert refused(client, "1.1.0") == {
        "version 1.1.0 is not served by endpoint 'churn-api': it serves 1.0.0 (stable)"
    }
    assert app.state.gateway.log.wait_flushed()
    assert len(logged(gov)) == 2


def test_an_idle_slot_an_ab_test_and_flags_decide_what_is_served(gov, gateway, now):
    client, _ = gateway
    slots = {"blue": "1.0.0", "green": "1.2.0"}
    live_spec(client, change_routing(gov, now, slots=slots, active_slot="blue").number)
    assert refused(client, "1.2.0") == {
        "version 1.2.0 is not served by endpoint 'churn-api': it serves 1.0.0 (blue); "
        "1.2.0 waits in the idle green slot"
    }
    assert client.get(f"{BASE}/1.0.0").json()["parameters"]["variants"] == ["blue"]
    split = ABSplit(
        experiment_id="exp-1", variants={"a": "1.1.0", "b": "1.2.0"}, weights={"a": 50, "b": 50}
    )
    flag = FlagRule(name="beta", version="1.1.0", org_ids=["acme"])
    number = change_routing(gov, now, ab=split, flags=[flag]).number
    live_spec(client, number)
    assert refused(client, "1.0.0") == {
        "version 1.0.0 is not served by endpoint 'churn-api': it serves 1.1.0 (flag:beta, a), "
        "1.2.0 (b); A/B test exp-1 takes all unflagged traffic"
    }
    assert client.get(f"/v2/models/{ENDPOINT}").json()["versions"] == ["1.1.0", "1.2.0"]
    answer = client.post(f"{BASE}/1.2.0/infer", json={"inputs": tensors(ROWS)})
    assert answer.status_code == 200 and answer.json()["model_version"] == "1.2.0"


def test_an_unknown_endpoint_or_version_on_a_versioned_path_is_a_404(gateway):
    client, _ = gateway
    unknown = client.post("/v2/models/nope/versions/1.0.0/infer", json={"inputs": tensors(ROWS)})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown endpoint 'nope'"})
    assert refused(client, "9.9.9") == {
        "version 9.9.9 is not served by endpoint 'churn-api': it serves 1.0.0 (stable)"
    }
