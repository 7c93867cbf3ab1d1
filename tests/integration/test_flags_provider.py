"""The OpenFeature provider answers exactly as route() does, from the database or a gateway."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections import Counter

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode, ParseError
from openfeature.flag_evaluation import Reason

from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule, RoutingSpec, route
from governance.services.promotion import approval_requests, completion, decisions, evaluation
from governance.services.rollout import endpoints, routing
from governance.serving.flags_provider import (
    GovernanceProvider,
    HttpSpecSource,
    SpecSource,
    live_routing_from_json,
)
from governance.store.tables_rollout import routing_specs

ALICE, CAROL = (
    VerifiedActor(name="alice", method="totp"),
    VerifiedActor(name="carol", method="totp"),
)
FLAG = "churn-api.version"
VIPS = ["u-vip-1", "u-vip-2", "u-vip-3"]
FLAGS = [
    FlagRule(name="vip", version="1.2.0", user_ids=VIPS),
    FlagRule(name="beta-org", version="1.2.0", org_ids=["acme"]),
    FlagRule(name="dogfood", version="1.2.0", percentage=10),
]
ORGS = [{}, {"org_id": "acme"}, {"org_id": "initech"}, {"org_id": "globex", "tier": "gold"}]


def contexts(n: int = 2_000) -> list[tuple[str, dict[str, str]]]:
    """`n` (targeting key, attributes) pairs: the VIPs first, then users across four orgs."""
    keys = [*VIPS, *(f"user-{i}" for i in range(n - len(VIPS)))]
    return [(key, ORGS[i % len(ORGS)]) for i, key in enumerate(keys)]


def stage_through_promotion(gov, codes, now, version: str) -> None:
    """Evaluate `version`, have bob approve it for staging, and carry the move out."""
    run = evaluation.evaluate(
        gov, model="churn", version=version, dataset="holdout", actor="alice", now=now
    )
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version=version,
        target=S.staging,
        requester=ALICE,
        evaluation_run_id=run.id,
        now=now,
    )
    decisions.decide(
        gov,
        request_id=request.id,
        approver="bob",
        role="ml_engineer",
        decision="approve",
        code=codes("bob", now),
        now=now,
    )
    completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)


@pytest.fixture
def api_endpoint(gov, staged_run, codes, now):
    """churn-api: stable 1.0.0, flags (user ids, org, 10%) to 1.2.0, canary 1.1.0 at 20%."""
    endpoints.create(gov, "churn-api", model="churn", actor=ALICE, now=now)
    # A named-users flag to a version that passed staging is one `flags set` accepts...
    stage_through_promotion(gov, codes, now, "1.2.0")
    endpoints.set_flag(gov, "churn-api", FLAGS[0], actor=CAROL, now=now)
    # ...the org-wide and 10% flags it refuses until 1.2.0 is approved for production
    # (tests/integration/test_production_gate.py); what is tested here is how any spec
    # routes, so they are written as the routing change itself.
    with gov.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda spec: routing.updated(spec, flags=FLAGS),
            actor="test-setup",
            reason="flags",
            now=now,
        )
    set_canary(gov, now, "1.1.0", 20)
    return gov


def set_canary(gov, now, version: str | None, weight: int) -> None:
    """The routing change rollout.start and its steps make (a new spec version, audited)."""
    with gov.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda spec: routing.updated(spec, canary=version, canary_weight=weight),
            actor="alice",
            reason=f"canary {version} at {weight}%",
            now=now,
        )


def live_spec(gov):
    """The endpoint's seed and latest spec, straight from the store."""
    with gov.store.read() as tx:
        return tx.routing.find_endpoint("churn-api").seed, tx.routing.latest_spec("churn-api")


@pytest.fixture
def client_for():
    """An OpenFeature client bound to a provider, in its own domain; providers shut down after."""
    made: list[str] = []

    def bind(provider: GovernanceProvider):
        domain = f"governance-test-{len(made)}"
        api.set_provider(provider, domain=domain)
        made.append(domain)
        return api.get_client(domain=domain)

    yield bind
    api.shutdown()


def six_sigma(share: float, n: int) -> float:
    """Six binomial standard deviations of a share observed over `n` keys."""
    return 6 * math.sqrt(share * (1 - share) / n)


def assert_answers_equal_route(client, seed, spec) -> Counter:
    """Every context's answer equals route()'s version, variant, reason and bucket."""
    seen: Counter = Counter()
    for key, attrs in contexts():
        expected = route("churn-api", seed, spec, key, attrs)
        got = client.get_string_details(FLAG, "no-version", EvaluationContext(key, attrs))
        assert got.error_code is None, got.error_message
        assert (got.value, got.variant, got.reason, got.flag_metadata["bucket"]) == (
            expected.version,
            expected.variant,
            Reason(expected.reason.value),
            expected.bucket,
        ), key
        seen[(got.variant, got.reason)] += 1
    return seen


def test_the_provider_answers_as_route_does_for_2000_keys(api_endpoint, client_for):
    gov = api_endpoint
    seed, latest = live_spec(gov)
    assert [f.name for f in latest.spec.flags] == ["vip", "beta-org", "dogfood"]
    assert (latest.spec.stable, latest.spec.canary, latest.spec.canary_weight) == (
        "1.0.0",
        "1.1.0",
        20,
    )
    client = client_for(GovernanceProvider(SpecSource(gov)))

    seen = assert_answers_equal_route(client, seed, latest.spec)

    assert seen[("flag:vip", Reason.TARGETING_MATCH)] == len(VIPS)
    # Every fourth context is acme's, except a VIP there, whom the earlier flag takes.
    acme = sum(attrs.get("org_id") == "acme" and key not in VIPS for key, attrs in contexts())
    assert seen[("flag:beta-org", Reason.TARGETING_MATCH)] == acme == 499
    # The rest split by their buckets: ~10% dogfood, then ~20% of the others on the canary.
    rest = 2_000 - len(VIPS) - acme
    dogfood = seen[("flag:dogfood", Reason.TARGETING_MATCH)]
    canary = seen[("canary", Reason.SPLIT)]
    stable = seen[("stable", Reason.STATIC)]
    assert dogfood + canary + stable == rest
    # The endpoint's seed is random, so the shares are binomial draws: each must lie within
    # six standard deviations of its percentage (a false alarm about once in 500 million
    # runs), which still catches a percentage applied wrongly (say 1% or 20% for 10%).
    assert abs(dogfood / rest - 0.10) < six_sigma(0.10, rest)
    assert abs(canary / (rest - dogfood) - 0.20) < six_sigma(0.20, rest - dogfood)
    metadata = client.get_string_details(FLAG, "x", EvaluationContext("user-1")).flag_metadata
    assert (metadata["endpoint"], metadata["spec"]) == ("churn-api", latest.number)


def test_errors_return_the_default_with_an_error_code(api_endpoint, client_for):
    client = client_for(GovernanceProvider(SpecSource(api_endpoint)))

    for flag in ("nope.version", "churn-api", ".version"):
        got = client.get_string_details(flag, "fallback", EvaluationContext("user-1"))
        assert (got.value, got.reason, got.error_code) == (
            "fallback",
            Reason.ERROR,
            ErrorCode.FLAG_NOT_FOUND,
        ), flag
    wrong_type = client.get_boolean_details(FLAG, False, EvaluationContext("user-1"))
    assert (wrong_type.value, wrong_type.error_code) == (False, ErrorCode.TYPE_MISMATCH)


def test_without_a_targeting_key_only_attribute_flags_answer(api_endpoint, client_for):
    client = client_for(GovernanceProvider(SpecSource(api_endpoint)))

    # The org flag comes before any hashed rule, so attributes alone decide it.
    org = client.get_string_details(FLAG, "fallback", EvaluationContext(None, {"org_id": "acme"}))
    assert (org.value, org.variant, org.reason) == (
        "1.2.0",
        "flag:beta-org",
        Reason.TARGETING_MATCH,
    )
    assert "bucket" not in org.flag_metadata
    # Anyone else would be hashed (percentage flag, canary): no key, no answer but the default.
    for context in (EvaluationContext(), EvaluationContext("", {"org_id": "initech"})):
        got = client.get_string_details(FLAG, "fallback", context)
        assert (got.value, got.error_code) == ("fallback", ErrorCode.TARGETING_KEY_MISSING)


def test_a_spec_without_splits_answers_static_without_a_key(api_endpoint, client_for, now):
    gov = api_endpoint
    set_canary(gov, now, None, 0)
    for flag in ("vip", "beta-org", "dogfood"):
        endpoints.clear_flag(gov, "churn-api", flag, actor=CAROL, now=now)
    client = client_for(GovernanceProvider(SpecSource(gov)))

    got = client.get_string_details(FLAG, "fallback", EvaluationContext())
    assert (got.value, got.variant, got.reason, got.error_code) == (
        "1.0.0",
        "stable",
        Reason.STATIC,
        None,
    )


def test_a_routing_change_is_answered_once_the_ttl_passes(api_endpoint, client_for, now):
    gov = api_endpoint
    client = client_for(GovernanceProvider(SpecSource(gov, ttl=0.2)))
    seed, latest = live_spec(gov)
    in_canary = next(
        k for k, _ in contexts() if route("churn-api", seed, latest.spec, k).variant == "canary"
    )
    assert client.get_string_value(FLAG, "x", EvaluationContext(in_canary)) == "1.1.0"

    set_canary(gov, now, None, 0)  # the canary is rolled back
    time.sleep(0.25)
    got = client.get_string_details(FLAG, "x", EvaluationContext(in_canary))
    assert (got.value, got.variant, got.reason) == ("1.0.0", "stable", Reason.STATIC)


def test_a_spec_edited_in_the_database_is_refused_and_the_last_good_one_answers(
    api_endpoint, client_for
):
    gov = api_endpoint
    client = client_for(GovernanceProvider(SpecSource(gov, ttl=0.05)))
    assert client.get_string_value(FLAG, "x", EvaluationContext("u-vip-1")) == "1.2.0"
    seed, latest = live_spec(gov)
    forged = RoutingSpec(stable="1.2.0")
    with gov.engine.begin() as conn:  # a database writer without the key
        conn.execute(
            routing_specs.update()
            .where(routing_specs.c.number == latest.number)
            .values(spec=forged.model_dump(mode="json"), spec_hash=forged.digest())
        )
    time.sleep(0.1)
    # Routing as the sealed spec says: an unflagged, uncanaried key still gets 1.0.0.
    stable_key = next(
        k for k, a in contexts() if route("churn-api", seed, latest.spec, k, a).variant == "stable"
    )
    assert client.get_string_value(FLAG, "x", EvaluationContext(stable_key)) == "1.0.0"
    fresh = client_for(GovernanceProvider(SpecSource(gov)))
    got = fresh.get_string_details(FLAG, "x", EvaluationContext(stable_key))
    assert (got.value, got.error_code) == ("x", ErrorCode.GENERAL)
    assert got.error_message == (
        f"routing of 'churn-api' unavailable: its routing spec {latest.number} was refused:"
        " its content (hash"
        f" {forged.digest()}) is not what its spec_mac covers: the routing_specs row was"
        " changed outside governance"
    )


# --- the HTTP source against a real server -----------------------------------------------


def routing_app(gov, shape: str = "spec_number") -> FastAPI:
    """A stand-in for the gateway's GET /v1/endpoints/{name}, in a shape the source reads."""
    app = FastAPI()

    @app.get("/v1/endpoints/{name}")
    def live_routing(name: str) -> JSONResponse:
        with gov.store.read() as tx:
            found = tx.routing.find_endpoint(name)
            latest = tx.routing.latest_spec(name) if found else None
        if found is None or latest is None:
            return JSONResponse({"detail": f"unknown endpoint {name!r}"}, status_code=404)
        spec = latest.spec.model_dump(mode="json")
        if shape == "spec_number":
            body = {"spec_number": latest.number, "spec": spec}
        else:  # the gateway's own field names (governance/serving/app.py), plus the seed
            body = {"model": found.model_name, "spec": latest.number, "routing": spec}
        return JSONResponse({"endpoint": name, "seed": found.seed, **body})

    return app


class Served:
    """uvicorn serving an app on a free 127.0.0.1 port in a thread, until stop()."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Ask the server to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(params=["spec_number", "routing"])
def gateway(request, api_endpoint):
    """A real HTTP server answering the endpoint's live routing (in either body shape)."""
    served = Served(routing_app(api_endpoint, request.param))
    yield served
    served.stop()


def test_the_http_source_answers_as_route_does(api_endpoint, gateway, client_for):
    seed, latest = live_spec(api_endpoint)
    client = client_for(GovernanceProvider(HttpSpecSource(gateway.url)))

    seen = assert_answers_equal_route(client, seed, latest.spec)

    assert {variant for variant, _ in seen} == {
        "flag:vip",
        "flag:beta-org",
        "flag:dogfood",
        "canary",
        "stable",
    }
    unknown = client.get_string_details("nope.version", "fallback", EvaluationContext("u"))
    assert (unknown.value, unknown.error_code) == ("fallback", ErrorCode.FLAG_NOT_FOUND)


def test_the_http_source_keeps_the_last_routing_when_the_gateway_goes_away(
    api_endpoint, gateway, client_for
):
    client = client_for(GovernanceProvider(HttpSpecSource(gateway.url, ttl=0.05)))
    before = client.get_string_details(FLAG, "x", EvaluationContext("user-7"))
    assert before.error_code is None

    gateway.stop()
    time.sleep(0.1)  # past the TTL: the next answer must try the (gone) gateway first
    after = client.get_string_details(FLAG, "x", EvaluationContext("user-7"))
    assert (after.value, after.variant, after.error_code) == (before.value, before.variant, None)
    # An endpoint never read before has nothing to fall back on: an error, and the default.
    fresh = client.get_string_details("other.version", "fallback", EvaluationContext("u"))
    assert (fresh.value, fresh.error_code) == ("fallback", ErrorCode.GENERAL)


def test_a_routing_body_without_the_seed_is_a_parse_error():
    # Assignments hash with the endpoint's seed: without it no answer could match route().
    body = {"endpoint": "churn-api", "spec": 3, "routing": {"stable": "1.0.0"}}
    with pytest.raises(ParseError, match="seed"):
        live_routing_from_json("churn-api", body)
    with pytest.raises(ParseError, match="expected the routing of 'churn-api'"):
        live_routing_from_json("churn-api", {**body, "endpoint": "other", "seed": "s"})
