"""The gateway's smaller doors, over real HTTP: outcomes once, slots for the smoke test only,
and an endpoint's routing published only as far as a client needs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from gatewaykit import ENDPOINT, change_routing, client_headers, gateway_thread, serve_churn

from governance.services.rollout.gateway_credentials import (
    CREDENTIAL_HEADER,
    mint,
    routing_scope,
    smoke_scope,
)
from governance.store.tables_rollout import outcomes

ROW = {"age": 50, "income": 3, "tenure": 2}
URL = f"/v1/endpoints/{ENDPOINT}/predict"
NEEDS = "needs a credential only the smoke test and governance infrastructure hold"


@pytest.fixture
def gateway(gov, register_churn, now):
    """A live gateway over churn-api (1.0.0 production): (client, app)."""
    serve_churn(gov, register_churn, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def credential(gov, scope: str, lifetime: timedelta = timedelta(minutes=5)) -> dict[str, str]:
    """The header a key holder sends; minted on the real clock, which the gateway reads."""
    return {CREDENTIAL_HEADER: mint(gov.keyring, scope, datetime.now(UTC), lifetime)}


def predicted(client) -> str:
    answer = client.post(URL, json={"rows": [ROW], "targeting_key": "u1"})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"][0]["prediction_id"]


def stored_outcomes(gov) -> list[tuple]:
    with gov.engine.connect() as conn:
        return [(r.prediction_id, r.label, r.metrics) for r in conn.execute(outcomes.select())]


def test_the_first_outcome_stands_a_retry_is_idempotent_and_a_different_one_is_a_409(gov, gateway):
    client, _ = gateway
    pid = predicted(client)
    first = {"prediction_id": pid, "label": 1, "metrics": {"revenue": 12.5}}
    answer = client.post("/v1/outcomes", json=first)
    assert (answer.status_code, answer.json()) == (
        200,
        {"prediction_id": pid, "recorded": True, "already_recorded": False},
    )
    again = client.post("/v1/outcomes", json=first)
    assert (again.status_code, again.json()) == (
        200,
        {"prediction_id": pid, "recorded": True, "already_recorded": True},
    )
    for different in ({**first, "label": 0}, {**first, "metrics": {"revenue": 99.0}}):
        refused = client.post("/v1/outcomes", json=different)
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error.startswith(
            f'prediction {pid} already has an outcome (label 1, metrics {{"revenue": 12.5}},'
            " recorded at "
        )
        assert error.endswith(
            "the first outcome recorded stands, so this different one (label"
            f' {different["label"]}, metrics {{"revenue": {different["metrics"]["revenue"]}}})'
            " is refused"
        )
    assert stored_outcomes(gov) == [(pid, 1, {"revenue": 12.5})]


@pytest.fixture
def blue_green(gov, gateway, now):
    """churn-api with 1.0.0 in the active blue slot and 1.1.0 waiting in green."""
    client, _ = gateway
    spec = change_routing(gov, now, slots={"blue": "1.0.0", "green": "1.1.0"}, active_slot="blue")
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while client.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] != spec.number:
        assert datetime.now(UTC) < deadline, "the gateway never picked up the slots"
    return client


def test_a_slot_is_reached_only_with_the_smoke_tests_credential(gov, blue_green):
    client = blue_green
    body = {"rows": [ROW], "slot": "green", "targeting_key": "u1"}
    expired = credential(gov, smoke_scope(ENDPOINT, "green"), timedelta(minutes=-1))
    other_slot = credential(gov, smoke_scope(ENDPOINT, "blue"))
    cases = {
        None: f"none was sent (header {CREDENTIAL_HEADER})",
        "nonsense": f"the {CREDENTIAL_HEADER} header is malformed (expected EXPIRES.MAC)",
        other_slot[CREDENTIAL_HEADER]: (
            f"the {CREDENTIAL_HEADER} header does not verify for 'smoke {ENDPOINT} green'"
        ),
    }
    for header, problem in cases.items():
        headers = {} if header is None else {CREDENTIAL_HEADER: header}
        refused = client.post(URL, json=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json() == {"error": f"a request naming slot 'green' {NEEDS}: {problem}"}
    late = client.post(URL, json=body, headers=expired)
    assert late.status_code == 403
    assert late.json()["error"].startswith(
        f"a request naming slot 'green' {NEEDS}: the credential expired at "
    )
    smoke = client.post(URL, json=body, headers=credential(gov, smoke_scope(ENDPOINT, "green")))
    assert smoke.status_code == 200, smoke.text
    assert (smoke.json()["version"], smoke.json()["variant"]) == ("1.1.0", "slot:green")
    # Everyone else is routed as usual: the candidate serves nobody.
    assert client.post(URL, json={"rows": [ROW]}).json()["version"] == "1.0.0"


def test_the_routing_published_to_clients_holds_no_seed_rule_or_person(gov, blue_green, now):
    client = blue_green
    change_routing(
        gov,
        now,
        flags=[{"name": "acme-early", "version": "1.1.0", "org_ids": ["acme"]}],
    )
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while (public := client.get(f"/v1/endpoints/{ENDPOINT}").json())["spec"] != 3:
        assert datetime.now(UTC) < deadline, "the gateway never picked up the flag"
    assert public == {
        "endpoint": ENDPOINT,
        "model": "churn",
        "spec": 3,
        "production_version": "1.0.0",
        "versions": ["1.0.0", "1.1.0"],
        "mode": "blue_green",
    }
    with gov.store.read() as tx:
        seed = tx.routing.find_endpoint(ENDPOINT).seed
    full = client.get(
        f"/v1/endpoints/{ENDPOINT}", headers=credential(gov, routing_scope(ENDPOINT))
    ).json()
    assert (full["seed"], full["changed_by"], full["reason"]) == (seed, "carol", "test")
    assert full["routing"]["flags"][0]["org_ids"] == ["acme"]
    forged = client.get(
        f"/v1/endpoints/{ENDPOINT}", headers=credential(gov, smoke_scope(ENDPOINT, "green"))
    )
    assert forged.status_code == 403
    assert forged.json() == {
        "error": f"a request for the full routing of {ENDPOINT!r} {NEEDS}: the"
        f" {CREDENTIAL_HEADER} header does not verify for 'routing {ENDPOINT}'"
    }
