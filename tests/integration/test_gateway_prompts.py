"""The gateway's prompt routes over real HTTP: serving, canary variants, ETags, outcomes."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from gatewaykit import client_headers, client_key, gateway_thread
from promptkit import (
    PROMPT,
    TEMPLATE,
    canary_of,
    candidate,
    in_production,
    logged_renders,
    start_canary,
)

from governance.client.prompts import PromptClient, PromptGatewayError
from governance.domain.prompt_rollout import variant_for
from governance.domain.prompts import PromptStatus
from governance.services.prompts import prompt_canary, prompt_registry

URL = f"/v1/prompts/{PROMPT}"
OUTCOMES = "/v1/prompts/outcomes"
VARS = {"var.product": "Router", "var.question": "Why"}


@pytest.fixture
def gateway(gov):
    """A live gateway on the test's database: (client, app)."""
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def until(check, what: str, timeout: float = 2.0) -> float:
    """Seconds until `check()` holds; fails the test naming `what` after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - started


def test_production_is_served_and_what_is_not_there_is_named(gov, gateway, now):
    client, _ = gateway
    in_production(gov, now)
    answer = client.get(URL)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {k: v for k, v in body.items() if k != "etag"} == {
        "prompt_id": PROMPT,
        "version": "1.0.0",
        "variant": "stable",
        "template": TEMPLATE,
        "variables": ["product", "question"],
        "rendered": None,
        "render_id": None,
    }
    assert answer.headers["etag"] == body["etag"]
    assert answer.headers["cache-control"] == "private, max-age=1"
    assert client.get(URL, params={"targeting_key": "u1"}).json()["variant"] == "stable"
    missing = client.get("/v1/prompts/nope")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "prompt 'nope' has no production version to serve"},
    )
    candidate(gov, now, prompt_id="draft-only")
    assert client.get("/v1/prompts/draft-only").status_code == 404
    bad = client.get("/v1/prompts/Bad!")
    assert bad.status_code == 400 and "invalid prompt id 'Bad!'" in bad.json()["error"]
    assert logged_renders(gov) == []


def test_rendering_needs_exactly_the_declared_variables(gov, gateway, now):
    client, _ = gateway
    in_production(gov, now)
    answer = client.get(URL, params={"targeting_key": "u1", **VARS})
    assert answer.json()["rendered"] == "You support Router.\nQuestion: Why\n"
    refusals = {
        "support@1.0.0 needs variable(s) question: missing": {"var.product": "R"},
        "support@1.0.0 has no variable(s) tone; it takes product, question": {
            **VARS,
            "var.tone": "dry",
        },
        "unknown or repeated query parameter(s) version: give targeting_key once and each "
        "variable once as var.NAME": {"version": "1.0.0"},
        "targeting_key must be 1 to 256 characters": {"targeting_key": ""},
    }
    for error, params in refusals.items():
        refused = client.get(URL, params=params)
        assert (refused.status_code, refused.json()) == (400, {"error": error})


def test_an_unchanged_answer_is_a_304_with_no_body(gov, gateway, now):
    client, _ = gateway
    in_production(gov, now)
    first = client.get(URL, params=VARS)
    again = client.get(URL, params=VARS, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == first.headers["etag"]
    listed = client.get(
        URL, params=VARS, headers={"If-None-Match": f'"x", W/{first.headers["etag"]}'}
    )
    assert listed.status_code == 304
    other = client.get(
        URL,
        params={**VARS, "var.question": "How"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert other.status_code == 200 and other.headers["etag"] != first.headers["etag"]


def test_a_pointer_move_is_served_within_a_second(gov, gateway, now):
    client, _ = gateway
    in_production(gov, now)
    assert client.get(URL).json()["version"] == "1.0.0"
    in_production(gov, now + timedelta(minutes=1), template=TEMPLATE + "Be kind.\n")
    elapsed = until(lambda: client.get(URL).json()["version"] == "1.0.1", "the pointer move")
    assert elapsed < 1.0, f"the pointer move took {elapsed:.3f} s"


def test_a_canary_assigns_sticky_weighted_variants_and_logs_only_its_renders(gov, gateway, now):
    client, app = gateway
    in_production(gov, now)
    assert client.get(URL, params={"targeting_key": "before"}).json()["render_id"] is None
    _, rollout = canary_of(gov, candidate(gov, now), now)
    until(lambda: client.get(URL, params={"targeting_key": "k"}).json()["render_id"], "canary")
    keys = [f"user-{i}" for i in range(1000)]
    first = {key: client.get(URL, params={"targeting_key": key}).json() for key in keys}
    share = Counter(a["variant"] for a in first.values())["candidate"] / len(keys)
    assert abs(share - rollout.weight / 100) <= 0.03, share
    for key, answer in first.items():
        assert answer["variant"] == variant_for(rollout, key)
        assert answer["version"] == ("1.0.1" if answer["variant"] == "candidate" else "1.0.0")
        again = client.get(URL, params={"targeting_key": key})
        assert again.json()["variant"] == answer["variant"]
        assert again.headers["cache-control"] == "private, no-cache"
    no_key = client.get(URL).json()
    assert (no_key["variant"], no_key["render_id"]) == ("stable", None)
    app.state.prompts.renders.flush()
    logged = logged_renders(gov)
    # Two per key, and the one that first saw the canary; none before it, none without a key.
    assert len(logged) == 2 * len(keys) + 1
    assert {r["rollout_id"] for r in logged} == {rollout.id}
    by_id = {r["id"]: r for r in logged}
    for key, answer in first.items():
        row = by_id[answer["render_id"]]
        assert (row["targeting_key"], row["variant"], row["version"]) == (
            key,
            answer["variant"],
            answer["version"],
        )


def test_outcomes_are_recorded_once_per_logged_render(gov, gateway, now):
    client, _ = gateway
    _, rollout = start_canary(gov, now)
    until(lambda: client.get(URL, params={"targeting_key": "k"}).json()["render_id"], "canary")
    # Straight after the render: still in the writer's buffer, and recorded all the same.
    render_id = client.get(URL, params={"targeting_key": "u1"}).json()["render_id"]
    body = {"render_id": render_id, "success": True, "latency_ms": 412.5}
    recorded = client.post(OUTCOMES, json=body)
    assert (recorded.status_code, recorded.json()) == (
        200,
        {"render_id": render_id, "recorded": True},
    )
    again = client.post(OUTCOMES, json={**body, "success": False})
    assert (again.status_code, again.json()) == (
        409,
        {"error": f"render {render_id!r} already has an outcome"},
    )
    unknown = client.post(OUTCOMES, json={**body, "render_id": "nope"})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "unknown render id 'nope': no canary logged it"},
    )
    for bad, field in (
        ({"render_id": render_id, "success": "yes"}, "body.success"),
        ({"render_id": render_id}, "body.success"),
        ({**body, "latency_ms": -1}, "body.latency_ms"),
        ({**body, "extra": 1}, "body.extra"),
    ):
        refused = client.post(OUTCOMES, json=bad)
        assert refused.status_code == 400 and field in refused.json()["error"], refused.text
    with gov.store.read() as tx:
        assert tx.prompts.outcomes(rollout.id, now - timedelta(days=1)) == [
            (variant_for(rollout, "u1"), True, 412.5)
        ]


def test_a_rolled_back_canary_stops_serving_the_candidate_within_a_second(gov, gateway, now):
    client, _ = gateway
    _, rollout = start_canary(gov, now)
    key = next(f"user-{i}" for i in range(1000) if variant_for(rollout, f"user-{i}") == "candidate")
    until(
        lambda: client.get(URL, params={"targeting_key": key}).json()["version"] == "1.0.1",
        "canary",
    )
    prompt_canary.stop(gov, rollout.id, "wrong tone", "carol", now)
    elapsed = until(
        lambda: client.get(URL, params={"targeting_key": key}).json()["version"] == "1.0.0",
        "the rollback",
    )
    assert elapsed < 1.0, f"the rollback took {elapsed:.3f} s"
    assert prompt_registry.resolve(gov, f"{PROMPT}@1.0.1").status == PromptStatus.deprecated


class Counted:
    """An httpx client for PromptClient that records the status of every response."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.http = httpx.Client(
            timeout=2.0, event_hooks={"response": [lambda r: self.statuses.append(r.status_code)]}
        )


@pytest.fixture
def sent():
    """A Counted client, closed after the test."""
    counted = Counted()
    yield counted
    counted.http.close()


@pytest.mark.sqlite_only
def test_the_client_caches_revalidates_serves_stale_and_falls_back(gov, now, sent):
    in_production(gov, now)
    clock = [0.0]
    ask = {"variables": {"product": "Router", "question": "Why"}}
    with gateway_thread(gov.settings) as (url, _):
        client = PromptClient(url, http=sent.http, clock=lambda: clock[0], api_key=client_key(gov))
        first = client.get_prompt(PROMPT, **ask)
        assert (first.source, first.version, first.variant, first.render_id) == (
            "gateway", "1.0.0", "stable", None,
        )  # fmt: skip
        assert first.rendered == "You support Router.\nQuestion: Why\n"
        assert client.get_prompt(PROMPT, **ask).source == "cache"
        assert sent.statuses == [200]
        clock[0] = 61
        assert client.get_prompt(PROMPT, **ask).source == "cache"
        assert sent.statuses == [200, 304]
        with pytest.raises(PromptGatewayError, match=r"answered 400 .* needs variable") as refused:
            client.get_prompt(PROMPT, variables={"product": "x"}, fallback="never")
        assert refused.value.status == 400
        in_production(gov, now + timedelta(minutes=1), template=TEMPLATE + "Be kind.\n")

        def moved() -> bool:
            clock[0] += 61
            return client.get_prompt(PROMPT, **ask).version == "1.0.1"

        until(moved, "the pointer move, through the client")
    clock[0] += 61
    stale = client.get_prompt(PROMPT, **ask)
    assert (stale.source, stale.version, stale.render_id) == ("stale-cache", "1.0.1", None)
    fallback = client.get_prompt(
        PROMPT, targeting_key="new", fallback="Offline: {{ product }}", **ask
    )
    assert (fallback.source, fallback.version, fallback.rendered) == (
        "fallback", None, "Offline: Router",
    )  # fmt: skip
    with PromptClient(url, fallbacks={PROMPT: "Offline."}) as configured:
        assert configured.get_prompt(PROMPT).template == "Offline."
        with pytest.raises(PromptGatewayError, match=r"unreachable: ConnectError.*no fallback"):
            configured.get_prompt("other")


@pytest.mark.sqlite_only
def test_the_client_never_reuses_a_logged_render(gov, now, sent):
    _, rollout = start_canary(gov, now)
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as raw,
    ):
        until(lambda: raw.get(URL, params={"targeting_key": "k"}).json()["render_id"], "canary")
        client = PromptClient(url, http=sent.http, api_key=client_key(gov))
        first = client.get_prompt(PROMPT, targeting_key="u1")
        second = client.get_prompt(PROMPT, targeting_key="u1")
        assert (first.source, second.source) == ("gateway", "cache")
        assert sent.statuses == [200, 304]
        assert None not in (first.render_id, second.render_id)
        assert first.render_id != second.render_id
        client.report_outcome(first.render_id, True, 120.0)
        client.report_outcome(second.render_id, False)
        with pytest.raises(PromptGatewayError, match=r"409 .* already has an outcome"):
            client.report_outcome(first.render_id, True)
    with gov.store.read() as tx:
        outcomes = tx.prompts.outcomes(rollout.id, now - timedelta(days=1))
    variant = variant_for(rollout, "u1")
    assert sorted(outcomes) == [(variant, False, 0.0), (variant, True, 120.0)]
