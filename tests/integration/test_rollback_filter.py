"""A rollback restores only versions that may serve now, and names what it left out.

The attack: the sweep retired churn 1.0.0 at its sunset and dropped the flag sending org
acme to it; a plain rollback then restored the previous spec, flag included, and acme was
served the retired 1.0.0 again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import approved_request

from governance.cli import endpoints as cli_endpoints
from governance.cli import run
from governance.domain.identity import VerifiedActor
from governance.domain.rollout import FlagRule, RoutingRefused
from governance.services.promotion import completion
from governance.services.rollout import endpoint_rollback, endpoints, routing, withdrawal
from governance.services.trust import audit

CAROL = VerifiedActor(name="carol", method="totp")
OLD = FlagRule(name="acme-old", version="1.0.0", org_ids=["acme"])
BETA = FlagRule(name="beta", version="1.1.0", user_ids=["u7"])


def add_flag(gov, rule: FlagRule, now) -> None:
    """A flag written straight into the next spec (seeded 1.0.0 has no promotion event for
    set_flag to find; how flags are allowed is not what these tests are about)."""
    with gov.store.write() as tx:
        routing.change_in(
            tx,
            "churn-api",
            lambda spec: routing.updated(spec, flags=[*spec.flags, rule]),
            actor="carol",
            reason=f"flag {rule.name} set",
            now=now,
        )


@pytest.fixture
def deprecated_flag(gov, staged_run, codes, now):
    """churn 1.1.0 in production (1.0.0 deprecated, sunset in 30 days); spec 3 flags acme
    to 1.0.0."""
    endpoints.create(gov, "churn-api", model="churn", actor=CAROL, now=now)
    request = approved_request(gov, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)
    completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)
    add_flag(gov, OLD, now)
    return gov


def test_after_the_sweep_a_rollback_does_not_bring_the_retired_versions_flag_back(
    deprecated_flag, now
):
    gov = deprecated_flag
    later = now + timedelta(days=31)
    [retired] = withdrawal.retire_past_sunset(gov, now=later)  # spec 4: the flag is dropped
    assert (retired.ref, endpoints.show(gov, "churn-api").spec.number) == ("churn@1.0.0", 4)
    with pytest.raises(RoutingRefused) as refused:
        endpoint_rollback.rollback_endpoint(
            gov, "churn-api", actor=CAROL, reason="undo the sweep", now=later
        )
    assert str(refused.value) == (
        "endpoint 'churn-api' has nothing to roll back to: what a rollback would restore"
        " differs from spec 4 only in versions that may not serve now: churn@1.0.0 is"
        " retired (flag acme-old)"
    )
    live = endpoints.show(gov, "churn-api").spec
    assert (live.number, live.spec.flags) == (4, [])
    audit.verify(gov)


@pytest.fixture
def past_sunset(deprecated_flag, now):
    """Spec 4 adds flag beta; 1.0.0's sunset has passed but no sweep has run yet."""
    add_flag(deprecated_flag, BETA, now)
    return deprecated_flag, now + timedelta(days=31)


def test_a_rollback_leaves_out_a_version_past_its_sunset_and_records_it(past_sunset, now):
    gov, later = past_sunset
    spec = endpoint_rollback.rollback_endpoint(
        gov, "churn-api", actor=CAROL, reason="beta misbehaves", now=later
    )
    # Spec 3 restored (beta gone) without its flag to 1.0.0, which may not serve any more.
    assert (spec.number, spec.spec.stable, spec.spec.flags) == (5, "1.1.0", [])
    sunset = (now + timedelta(days=30)).isoformat()
    assert spec.reason == (
        "rollback: beta misbehaves; left out of the restored spec because they may not serve"
        f" now: churn@1.0.0 passed its sunset at {sunset} (flag acme-old)"
    )
    event = audit.history(gov, event_type="routing.changed", model="churn")[-1]
    assert (event.actor, event.details["spec"], event.details["reason"]) == (
        "carol",
        5,
        spec.reason,
    )
    assert event.details["dropped"] == [
        {
            "version": "1.0.0",
            "why": f"churn@1.0.0 passed its sunset at {sunset}",
            "from": ["flag acme-old"],
        }
    ]
    audit.verify(gov)


def test_the_rollback_command_prints_what_it_left_out(past_sunset, monkeypatch, capsys, now):
    gov, later = past_sunset
    # The command as a verified lead runs it, on this database, after the sunset.
    monkeypatch.setattr(cli_endpoints, "governance", lambda: gov)
    monkeypatch.setattr(cli_endpoints, "current_actor", lambda _: CAROL)
    monkeypatch.setattr(cli_endpoints, "now", lambda: later)
    capsys.readouterr()
    assert run(["rollback", "churn-api", "--reason", "undo"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    sunset = (now + timedelta(days=30)).isoformat()
    assert printed.startswith("churn-api spec 5 (")
    assert (
        "by carol: rollback: undo; left out of the restored spec because they may not serve"
        f" now: churn@1.0.0 passed its sunset at {sunset} (flag acme-old)): 1.1.0 100%"
    ) in printed
