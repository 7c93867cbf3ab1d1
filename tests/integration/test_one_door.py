"""One door to staging and production; break-glass, rollback and risk as verified, audited acts."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from seeding import seed_stage

from governance.domain.approvals import RequestStatus
from governance.domain.errors import (
    BreakGlassRefused,
    IllegalTransition,
    InvalidInput,
    MalformedCard,
    RoleNotHeld,
    UseThePromotionDoor,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.models import RiskLevel
from governance.services.promotion import approval_queue, approval_requests, break_glass, decisions
from governance.services.registry import risk, versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import continuity, rollback
from governance.services.trust import audit, identity


def snapshot(gov):
    """The registry, the requests and the trail: what a refusal must leave as it was."""
    with gov.store.read() as tx:
        return (
            tx.registry.search(),
            tx.registry.list_models(),
            tx.approvals.with_status(RequestStatus.open),
            tx.audit.query(),
        )


@pytest.fixture
def churn(gov, register_churn, model_bytes, now):
    """churn 1.0.0 in production, 1.1.0 in staging, 1.2.0 in development."""
    for version, data in zip(("1.0.0", "1.1.0", "1.2.0"), model_bytes, strict=True):
        register_churn(version, data)
    seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    seed_stage(gov, "churn", "1.1.0", S.staging, now=now)
    return gov


@pytest.mark.parametrize("target", [S.staging, S.production])
def test_a_direct_move_into_a_governed_stage_is_refused(churn, now, target):
    before = snapshot(churn)
    version = "1.2.0" if target == S.staging else "1.1.0"
    with pytest.raises(UseThePromotionDoor) as refused:
        continuity.transition(
            churn,
            "churn",
            version,
            target,
            actor=VerifiedActor(name="carol", method="totp"),
            now=now,
        )
    assert str(refused.value) == (
        f"churn@{version}: {target.value} is entered only through promote-model: "
        f"use `governance promote churn {version} --target {target.value} --dataset NAME`"
    )
    assert snapshot(churn) == before


def test_retire_and_deprecate_with_a_reason_still_work(churn, now):
    with pytest.raises(InvalidInput) as refused:
        continuity.transition(
            churn,
            "churn",
            "1.0.0",
            S.deprecated,
            actor=VerifiedActor(name="carol", method="totp"),
            now=now,
        )
    assert str(refused.value) == "churn@1.0.0: a move to deprecated needs a reason (--reason)"
    moved = continuity.transition(
        churn,
        "churn",
        "1.0.0",
        S.deprecated,
        actor=VerifiedActor(name="carol", method="totp"),
        now=now,
        reason="data shift",
    )
    assert moved.sunset_at == now + timedelta(days=30)
    continuity.transition(
        churn,
        "churn",
        "1.2.0",
        S.retired,
        actor=VerifiedActor(name="carol", method="totp"),
        now=now,
    )
    assert versions.resolve(churn, "churn@1.2.0").stage == S.retired


def test_break_glass_promotes_records_and_opens_a_retro_review(churn, now):
    carol = VerifiedActor(name="carol", method="totp")
    promoted, review = break_glass.break_glass(
        churn, model="churn", version="1.1.0", actor=carol, reason="fraud spike", now=now
    )
    assert promoted.stage == S.production
    assert versions.resolve(churn, "churn@1.0.0").stage == S.deprecated
    [event] = audit.history(churn, event_type="promotion.break_glass")
    assert (event.actor, event.version, event.details["reason"]) == (
        "carol",
        "1.1.0",
        "fraud spike",
    )
    assert event.details["incumbent_version"] == "1.0.0" and event.details["roles"] == ["ml_lead"]
    # churn is high risk: the review needs what production at high risk needs.
    assert review.kind == "retro_review" and review.status == RequestStatus.open
    assert review.required == {"ml_lead": 1, "risk_officer": 1, "legal": 1}
    assert [r.id for r in approval_queue.open_retro_reviews(churn)] == [review.id]
    assert audit.verify_chain(churn).ok


def test_a_retro_review_stays_open_until_every_role_has_decided(churn, now):
    _, review = break_glass.break_glass(
        churn,
        model="churn",
        version="1.1.0",
        actor=VerifiedActor(name="carol", method="totp"),
        reason="outage",
        now=now,
    )
    later = now + timedelta(days=10)  # past the policy's 72 h: a retro-review does not expire
    assert approval_queue.expire_overdue(churn, later) == []
    for step, (person, role) in enumerate(
        (("frank", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal"))
    ):
        secret = identity.enroll(churn, person, actor="test", now=now).secret
        at = later + timedelta(seconds=30 * step)
        decisions.decide(
            churn,
            request_id=review.id,
            approver=person,
            role=role,
            decision="approve",
            code=pyotp.TOTP(secret).at(at),
            now=at,
        )
    assert approval_requests.get_request(churn, review.id).status == RequestStatus.approved
    assert approval_queue.open_retro_reviews(churn) == []


def test_break_glass_needs_a_reason_and_a_break_glass_role(churn, now):
    before = snapshot(churn)
    with pytest.raises(BreakGlassRefused) as no_reason:
        break_glass.break_glass(
            churn,
            model="churn",
            version="1.1.0",
            actor=VerifiedActor(name="carol", method="totp"),
            reason=" ",
            now=now,
        )
    assert str(no_reason.value) == "break-glass needs a reason (--reason TEXT); it is recorded"
    with pytest.raises(BreakGlassRefused) as no_role:
        break_glass.break_glass(
            churn,
            model="churn",
            version="1.1.0",
            actor=VerifiedActor(name="alice", method="totp"),
            reason="fraud spike",
            now=now,
        )
    assert str(no_role.value) == (
        "alice holds none of the break-glass roles (ml_lead): break-glass refused"
    )
    assert snapshot(churn) == before


def test_rollback_needs_a_lead_and_the_grace_period(churn, now):
    break_glass.break_glass(
        churn,
        model="churn",
        version="1.1.0",
        actor=VerifiedActor(name="carol", method="totp"),
        reason="x",
        now=now,
    )
    before = snapshot(churn)
    with pytest.raises(RoleNotHeld) as not_lead:
        rollback.rollback(
            churn,
            model="churn",
            version="1.0.0",
            actor=VerifiedActor(name="dave", method="totp"),
            reason="bad canary",
            now=now,
        )
    assert str(not_lead.value) == "dave does not hold the role ml_lead: rollback refused"
    with pytest.raises(IllegalTransition) as too_late:
        rollback.rollback(
            churn,
            model="churn",
            version="1.0.0",
            actor=VerifiedActor(name="carol", method="totp"),
            reason="bad canary",
            now=now + timedelta(days=31),
        )
    assert "the rollback grace period ended at" in str(too_late.value)
    assert snapshot(churn) == before
    restored = rollback.rollback(
        churn,
        model="churn",
        version="1.0.0",
        actor=VerifiedActor(name="carol", method="totp"),
        reason="bad canary",
        now=now + timedelta(hours=1),
    )
    assert restored.stage == S.production
    assert versions.resolve(churn, "churn@1.1.0").stage == S.deprecated
    [event] = audit.history(churn, event_type="model.rolled_back")
    assert (event.actor, event.details["replaced"], event.details["reason"]) == (
        "carol",
        "1.1.0",
        "bad canary",
    )


def test_risk_changes_are_a_risk_officers_audited_act(churn, now):
    with pytest.raises(RoleNotHeld) as refused:
        risk.change_risk(
            churn,
            "churn",
            RiskLevel.critical,
            actor=VerifiedActor(name="carol", method="totp"),
            reason="scope grew",
            now=now,
        )
    assert str(refused.value) == "carol does not hold the role risk_officer: risk change refused"
    changed = risk.change_risk(
        churn,
        "churn",
        RiskLevel.critical,
        actor=VerifiedActor(name="dave", method="totp"),
        reason="scope grew",
        now=now,
    )
    assert changed.risk_level == RiskLevel.critical
    [event] = audit.history(churn, event_type="model.risk_changed")
    assert event.details == {
        "from": "high",
        "to": "critical",
        "reason": "scope grew",
        "verified": True,
    }


def test_a_card_whose_risk_differs_from_the_models_is_refused(
    churn, example_card, model_bytes, now
):
    before = snapshot(churn)
    card = example_card.model_copy(update={"risk_level": "low"})
    spec = VersionSpec(name="churn", version="2.0.0", created_by="alice")
    with pytest.raises(MalformedCard) as refused:
        versions.register_version(churn, spec, card, artifact=model_bytes[2], now=now)
    assert str(refused.value) == (
        "card risk_level low differs from churn's high: state high in the card, "
        "or change the model's risk with `governance models risk`"
    )
    assert snapshot(churn) == before


def test_a_risk_change_voids_open_promotion_requests(gov, staged_run, now):
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=S.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged_run.id,
        now=now,
    )
    risk.change_risk(
        gov,
        "churn",
        RiskLevel.critical,
        actor=VerifiedActor(name="dave", method="totp"),
        reason="now used for triage",
        now=now,
    )
    assert approval_requests.get_request(gov, request.id).status == RequestStatus.void
    [event] = audit.history(gov, event_type="approval.voided")
    assert (event.actor, event.details["request_id"], event.details["changed"]) == (
        "dave",
        request.id,
        ["risk_level"],
    )
    assert event.details["reason"] == (
        "approvals void: risk changed from high to critical; the required roles may differ"
    )
