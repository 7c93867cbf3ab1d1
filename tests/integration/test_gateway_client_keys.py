"""Client keys at the gateway, over real HTTP on 127.0.0.1: who may predict, post outcomes and
fetch prompts, what each refusal answers and counts, and whose rows are whose."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from gatewaykit import (
    ADMIN,
    ENDPOINT,
    change_routing,
    client_key,
    gateway_thread,
    logged,
    serve_churn,
)
from promptkit import logged_renders, start_canary

from governance.domain.errors import InvalidInput, NotFound, RoleNotHeld
from governance.domain.identity import VerifiedActor
from governance.services.rollout import client_keys, endpoints
from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER, mint, smoke_scope
from governance.store.tables_prompts import prompt_render_outcomes
from governance.store.tables_rollout import client_keys as client_keys_table
from governance.store.tables_rollout import outcomes

ROW = {"age": 30, "income": 5, "tenure": 1}
PREDICT = f"/v1/endpoints/{ENDPOINT}/predict"
POLL = 0.3
NO_KEY = (
    "no client key: send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`"
    " (an admin creates one with `governance clients create APP`)"
)


@pytest.fixture
def served(gov, register_churn, now):
    """churn-api and other-api serving churn 1.0.0; a gateway polling keys every POLL s."""
    serve_churn(gov, register_churn, now)
    carol = VerifiedActor(name="carol", method="totp")
    endpoints.create(gov, "other-api", model="churn", actor=carol, now=now)
    settings = gov.settings.model_copy(update={"gateway_key_poll_seconds": POLL})
    with gateway_thread(settings) as (url, app), httpx.Client(base_url=url) as http:
        yield http, app


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of a key."""
    return {"Authorization": f"Bearer {key}"}


def refusals(http: httpx.Client) -> dict[str, float]:
    """gateway_client_refusals_total by reason, from /metrics."""
    counted = {}
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("gateway_client_refusals_total{"):
            labels, value = line.rsplit(" ", 1)
            counted[labels.split('reason="')[1].split('"')[0]] = float(value)
    return counted


def predict(http: httpx.Client, headers: dict[str, str], path: str = PREDICT) -> httpx.Response:
    """One predict of one row."""
    return http.post(path, json={"rows": [ROW]}, headers=headers)


def events(gov, event_type: str) -> list:
    """The trail's events of one type."""
    with gov.store.read() as tx:
        return tx.audit.query(event_type=event_type)


def test_missing_wrong_and_revoked_keys_get_401_and_are_counted(gov, served, now):
    http, _ = served
    key = client_key(gov, "checkout")
    refused = predict(http, {})
    assert (refused.status_code, refused.json()) == (401, {"error": NO_KEY})
    assert refused.headers["www-authenticate"] == 'Bearer realm="governance-gateway"'
    wrong = predict(http, bearer("gk_" + "x" * 43))
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"error": "wrong client key: no client key has this value"},
    )
    basic = predict(http, {"Authorization": f"Basic {key}"})
    assert (basic.status_code, basic.json()) == (
        401,
        {"error": "the Authorization header must be `Bearer KEY`"},
    )
    assert predict(http, bearer(key)).status_code == 200
    assert predict(http, {"X-API-Key": key}).status_code == 200
    # Health, metadata and the published routing stay open.
    for path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{ENDPOINT}", "/v2"):
        assert http.get(path).status_code == 200, path
    assert http.get(f"/v1/endpoints/{ENDPOINT}").status_code == 200

    [revoked_id] = client_keys.revoke(gov, "checkout", actor=ADMIN, now=now)
    started = time.monotonic()
    while predict(http, bearer(key)).status_code == 200:
        assert time.monotonic() - started < POLL + 1.0, "the revocation never took effect"
        time.sleep(0.02)
    # Refused within the documented bound: one key poll (plus one read).
    assert time.monotonic() - started < POLL + 1.0
    late = predict(http, {"X-API-Key": key})
    assert (late.status_code, late.json()) == (
        401,
        {"error": f"the client key {revoked_id} of checkout was revoked at {now.isoformat()}"},
    )
    counted = refusals(http)
    assert counted["missing"] == 1 and counted["wrong"] == 1 and counted["malformed"] == 1
    assert counted["revoked"] >= 1
    assert "gateway_client_keys_required 1.0" in http.get("/metrics").text
    # The trail names the key by id and app, never the key nor its hash.
    [created] = events(gov, "client.key_created")
    assert created.actor == "grace"
    assert created.details == {
        "key_id": revoked_id,
        "app": "checkout",
        "endpoints": ["*"],
        "routes": ["predict", "outcomes", "prompts"],
    }
    [revocation] = events(gov, "client.key_revoked")
    assert revocation.details == {"key_id": revoked_id, "app": "checkout"}
    with gov.engine.connect() as conn:
        stored = conn.execute(sa.select(client_keys_table.c.key_hash)).scalar_one()
    assert key not in str(created.details) and stored not in str(created.details)
    assert stored == client_keys.key_hash(key) and key not in stored


def test_a_key_outside_its_endpoints_or_routes_gets_403(gov, served, now):
    http, _ = served
    predictor = bearer(client_key(gov, "scorer", endpoints=(ENDPOINT,), routes=("predict",)))
    labeller = bearer(client_key(gov, "labeller", endpoints=("other-api",), routes=("outcomes",)))
    answer = predict(http, predictor)
    assert answer.status_code == 200
    pid = answer.json()["predictions"][0]["prediction_id"]

    elsewhere = predict(http, predictor, "/v1/endpoints/other-api/predict")
    assert (elsewhere.status_code, elsewhere.json()) == (
        403,
        {"error": "the client key of scorer is scoped to the endpoint(s) churn-api, not other-api"},
    )
    oip = http.post("/v2/models/other-api/versions/1.0.0/infer", json={}, headers=predictor)
    assert oip.status_code == 403 and "not other-api" in oip.json()["error"]
    route = http.post("/v1/outcomes", json={"prediction_id": pid, "label": 1}, headers=predictor)
    assert (route.status_code, route.json()) == (
        403,
        {"error": "the client key of scorer may call the route(s) predict, not outcomes"},
    )
    prompts = http.get("/v1/prompts/support", headers=predictor)
    assert prompts.status_code == 403 and prompts.json()["error"].endswith("not prompts")
    # The labeller may post outcomes, but only of other-api's predictions.
    foreign = http.post("/v1/outcomes", json={"prediction_id": pid, "label": 1}, headers=labeller)
    assert (foreign.status_code, foreign.json()) == (
        403,
        {
            "error": "the client key of labeller is scoped to the endpoint(s) other-api,"
            + " not churn-api"
        },
    )
    with gov.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar_one() == 0
    counted = refusals(http)
    assert (counted["endpoint_scope"], counted["route_scope"]) == (3, 2)


def test_each_prediction_and_outcome_records_the_client_application(gov, served, now):
    http, app = served
    checkout = bearer(client_key(gov, "checkout"))
    crm = bearer(client_key(gov, "crm", endpoints=(ENDPOINT,), routes=("predict", "outcomes")))
    first = predict(http, checkout).json()["predictions"][0]["prediction_id"]
    body = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [v]}
                       for f, v in ROW.items()]}  # fmt: skip
    oip = http.post(f"/v2/models/{ENDPOINT}/infer", json=body, headers=crm)
    second = oip.json()["parameters"]["prediction_id"]
    pinned = http.post(f"/v2/models/{ENDPOINT}/versions/1.0.0/infer", json=body, headers=crm)
    third = pinned.json()["parameters"]["prediction_id"]
    assert app.state.gateway.log.wait_flushed()
    assert {r["id"]: r["client"] for r in logged(gov)} == {
        first: "checkout",
        second: "crm",
        third: "crm",
    }
    # crm labels checkout's prediction: the outcome is crm's, whatever made the prediction.
    for pid, headers in ((first, crm), (second, checkout)):
        posted = http.post("/v1/outcomes", json={"prediction_id": pid, "label": 1}, headers=headers)
        assert posted.status_code == 200, posted.text
    with gov.engine.connect() as conn:
        rows = conn.execute(sa.select(outcomes.c.prediction_id, outcomes.c.client)).all()
    assert dict(rows) == {first: "crm", second: "checkout"}


def test_prompt_renders_and_their_outcomes_record_the_client(gov, served, now):
    http, _ = served
    start_canary(gov, now)
    fetcher = bearer(client_key(gov, "chat-ui", routes=("prompts",), endpoints=()))
    reporter = bearer(client_key(gov, "chat-worker", routes=("prompts",), endpoints=()))
    assert http.get("/v1/prompts/support", params={"targeting_key": "k"}).status_code == 401
    deadline = time.monotonic() + 5
    while not (render := http.get("/v1/prompts/support", params={"targeting_key": "k"},
                                  headers=fetcher).json().get("render_id")):  # fmt: skip
        assert time.monotonic() < deadline, "the canary never reached the gateway"
        time.sleep(0.05)
    body = {"render_id": render, "success": True, "latency_ms": 12.0}
    assert http.post("/v1/prompts/outcomes", json=body).status_code == 401
    assert http.post("/v1/prompts/outcomes", json=body, headers=reporter).status_code == 200
    [row] = [r for r in logged_renders(gov) if r["id"] == render]
    with gov.engine.connect() as conn:
        outcome = conn.execute(
            sa.select(prompt_render_outcomes).where(prompt_render_outcomes.c.render_id == render)
        ).one()
    assert (row["client"], outcome.client, outcome.success) == ("chat-ui", "chat-worker", True)


def test_a_forged_or_edited_key_row_is_refused(gov, served, now):
    http, _ = served
    forged_key = "gk_forged-by-a-database-writer"
    with gov.engine.begin() as conn:
        conn.execute(
            client_keys_table.insert().values(
                id="ck_00000000000000aa",
                app="intruder",
                key_hash=client_keys.key_hash(forged_key),
                endpoints=["*"],
                routes=["predict", "outcomes", "prompts"],
                created_by="grace",
                created_at=now,
                mac="0" * 64,
            )
        )
    forged = predict(http, bearer(forged_key))
    assert (forged.status_code, forged.json()) == (
        401,
        {
            "error": "the client key ck_00000000000000aa of intruder is not genuine (its record"
            " does not carry the MAC `governance clients create` made)"
        },
    )
    # A genuine key widened by an UPDATE is no longer genuine either.
    narrow = client_key(gov, "narrow", endpoints=("other-api",), routes=("predict",))
    with gov.engine.begin() as conn:
        conn.execute(
            client_keys_table.update()
            .where(client_keys_table.c.app == "narrow")
            .values(endpoints=["*"])
        )
    assert _until_status(http, bearer(narrow), 401)
    # A revoked key stays revoked when its row's revoked_at is cleared: the trail says so.
    again = client_key(gov, "again")
    client_keys.revoke(gov, "again", actor=ADMIN, now=now)
    with gov.engine.begin() as conn:
        conn.execute(
            client_keys_table.update()
            .where(client_keys_table.c.app == "again")
            .values(revoked_at=None, revoked_by=None)
        )
    time.sleep(2 * POLL)
    answer = predict(http, bearer(again))
    assert answer.status_code == 401
    assert answer.json()["error"].endswith("of again was revoked")
    statuses = {r.key.app: r.status for r in client_keys.keys(gov)}
    assert statuses == {"intruder": "not genuine", "narrow": "not genuine", "again": "revoked"}
    assert refusals(http)["not_genuine"] >= 2


def _until_status(http: httpx.Client, headers: dict[str, str], status: int) -> bool:
    deadline = time.monotonic() + POLL + 2
    while time.monotonic() < deadline:
        if predict(http, headers, "/v1/endpoints/other-api/predict").status_code == status:
            return True
        time.sleep(0.05)
    return False


def test_only_an_admin_creates_or_revokes_keys_and_bad_scopes_are_named(gov, served, now):
    alice = VerifiedActor(name="alice", method="totp")
    with pytest.raises(RoleNotHeld) as refused:
        client_keys.create(
            gov, "checkout", endpoints=["*"], routes=["predict"], actor=alice, now=now
        )
    assert str(refused.value) == (
        "alice does not hold the role admin: creating a client key for checkout refused"
    )
    assert client_keys.keys(gov) == [] and events(gov, "client.key_created") == []
    client_key(gov, "checkout")
    with pytest.raises(RoleNotHeld, match=r"^alice does not hold the role admin: revoking"):
        client_keys.revoke(gov, "checkout", actor=alice, now=now)
    cases = {
        ("Bad_Name", ("*",), ("predict",)): (InvalidInput, "client application name 'Bad_Name'"),
        ("ok", ("*",), ("train",)): (InvalidInput, "unknown route(s) train: a client key may"),
        ("ok", (), ("predict",)): (InvalidInput, "name the endpoint(s) the key may call"),
        ("ok", ("nope",), ("predict",)): (NotFound, "unknown endpoint(s) nope"),
        ("ok", ("*", ENDPOINT), ("predict",)): (InvalidInput, "'*' already means every"),
    }
    for (app, scope, routes), (kind, start) in cases.items():
        with pytest.raises(kind) as bad:
            client_keys.create(
                gov, app, endpoints=list(scope), routes=list(routes), actor=ADMIN, now=now
            )
        assert str(bad.value).startswith(start), str(bad.value)
    assert [r.key.app for r in client_keys.keys(gov)] == ["checkout"]
    with pytest.raises(NotFound, match=r"^no client key ck_0000000000000000$"):
        client_keys.revoke(gov, "ck_0000000000000000", actor=ADMIN, now=now)
    client_keys.revoke(gov, "checkout", actor=ADMIN, now=now)
    with pytest.raises(InvalidInput, match=r"^every client key of checkout is revoked already$"):
        client_keys.revoke(gov, "checkout", actor=ADMIN, now=now)


def test_the_smoke_credential_opens_a_slot_and_nothing_else(gov, served, now):
    http, app = served
    spec = change_routing(gov, now, slots={"blue": "1.0.0", "green": "1.1.0"}, active_slot="blue")
    deadline = time.monotonic() + 5
    while http.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] != spec.number:
        assert time.monotonic() < deadline, "the gateway never picked up the slots"
        time.sleep(0.05)
    # Minted on the real clock, which the gateway reads.
    scope = smoke_scope(ENDPOINT, "green")
    credential = {CREDENTIAL_HEADER: mint(gov.keyring, scope, datetime.now(UTC))}
    slot = http.post(PREDICT, json={"rows": [ROW], "slot": "green"}, headers=credential)
    assert slot.status_code == 200, slot.text
    routed = http.post(PREDICT, json={"rows": [ROW]}, headers=credential)
    assert (routed.status_code, routed.json()["error"]) == (
        401,
        "no client key (a X-Governance-Credential opens slots only): send it as"
        " `Authorization: Bearer KEY` or `X-API-Key: KEY` (an admin creates one with"
        " `governance clients create APP`)",
    )
    # No OIP inference names a slot: there the credential is no key at all.
    oip = http.post(f"/v2/models/{ENDPOINT}/infer", json={}, headers=credential)
    assert (oip.status_code, oip.json()) == (401, {"error": NO_KEY})
    assert app.state.gateway.log.wait_flushed()
    assert [r["client"] for r in logged(gov)] == ["governance:smoke-test"]


def test_with_keys_off_the_gateway_says_so_and_attributes_nothing(gov, register_churn, now, caplog):
    serve_churn(gov, register_churn, now)
    settings = gov.settings.model_copy(update={"gateway_require_keys": False})
    key = client_key(gov, "checkout")
    with (
        caplog.at_level(logging.WARNING, logger="governance.serving.gateway"),
        gateway_thread(settings) as (url, app),
        httpx.Client(base_url=url) as http,
    ):
        assert predict(http, {}).status_code == 200
        assert predict(http, bearer(key)).status_code == 200
        # A key that is sent is still checked.
        assert predict(http, bearer("gk_wrong")).status_code == 401
        assert "gateway_client_keys_required 0.0" in http.get("/metrics").text
        assert app.state.gateway.log.wait_flushed()
    assert sorted(r["client"] or "-" for r in logged(gov)) == ["-", "checkout"]
    assert any("GOVERNANCE_GATEWAY_REQUIRE_KEYS is false" in r.message for r in caplog.records)
