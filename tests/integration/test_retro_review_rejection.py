"""A rejected break-glass retro-review changes what serves (issue 16, item 11).

carol (ml_lead) breaks glass to put staged churn 1.1.0 in production over 1.0.0; dave
(risk_officer) rejects the retro-review. By default (`break_glass_rejection: rollback`)
1.0.0 comes back inside its grace period and the review ends with that act recorded; when
it cannot come back the rejection is escalated, shown pending and as an audit breach until
a lead acts. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import seed_stage

from governance.domain.approvals import RequestStatus
from governance.domain.errors import BreakGlassRefused
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.domain.monitoring import Check, Status
from governance.services.monitoring import retirement_audit
from governance.services.promotion import approval_queue, break_glass, decisions, retro_review
from governance.services.registry import versions
from governance.services.rollout import continuity, endpoints
from governance.services.trust import audit

CAROL = VerifiedActor(name="carol", method="totp")
NOTES = "no incident justified skipping the gate"


@pytest.fixture
def broken(gov, staged_run, codes, now):
    """churn-api on churn; carol's break-glass of 1.1.0 at `now`; its open retro-review."""
    endpoints.create(
        gov, "churn-api", model="churn", actor=VerifiedActor(name="alice", method="totp"), now=now
    )
    _, review = break_glass.break_glass(
        gov, model="churn", version="1.1.0", actor=CAROL, reason="fraud spike", now=now
    )
    assert endpoints.show(gov, "churn-api").spec.spec.stable == "1.1.0"
    return gov, review


def reject(gov, codes, review, at):
    return decisions.decide(
        gov,
        request_id=review.id,
        approver="dave",
        role="risk_officer",
        decision="reject",
        notes=NOTES,
        code=codes("dave", at),
        now=at,
    )


def stored(gov, review):
    with gov.store.read() as tx:
        found = tx.approvals.get(review.id)
        return found.request.status, found.completed_at, tx.approvals.closed_reason(review.id)


def test_a_rejection_rolls_back_to_the_previous_version_and_ends_the_review(broken, codes, now):
    gov, review = broken
    at = now + timedelta(days=2)
    rejected = reject(gov, codes, review, at)
    assert rejected.status == RequestStatus.rejected
    assert versions.resolve(gov, "churn@production").version == "1.0.0"
    assert versions.resolve(gov, "churn@1.1.0").stage == S.deprecated
    spec = endpoints.show(gov, "churn-api").spec
    assert (spec.spec.stable, spec.actor) == ("1.0.0", "dave")
    assert stored(gov, review) == (RequestStatus.rejected, at, "rolled back to churn@1.0.0")

    [rolled] = audit.history(gov, event_type="model.rolled_back")
    assert (rolled.actor, rolled.version, rolled.details["replaced"]) == ("dave", "1.0.0", "1.1.0")
    assert rolled.details["reason"] == f"break-glass retro-review {review.id} rejected"
    [enacted] = audit.history(gov, event_type="break_glass.rejection_enacted")
    assert (enacted.actor, enacted.version) == ("dave", "1.1.0")
    assert {k: enacted.details[k] for k in ("request_id", "act", "restored", "outcome")} == {
        "request_id": review.id,
        "act": "rollback",
        "restored": "1.0.0",
        "outcome": "rolled back to churn@1.0.0",
    }
    # One transaction: the rejection, the rollback and the act, in that order.
    [closed] = audit.history(gov, event_type="approval.rejected")
    assert closed.seq < rolled.seq < enacted.seq
    assert approval_queue.open_retro_reviews(gov) == []
    assert retro_review.escalated(gov) == []
    # The replay agrees: the review is carried out, 1.0.0 production, the routing as stored.
    assert audit.verify(gov).state_rows > 0
    # Breaking glass again would undo the decision: refused, naming it.
    with pytest.raises(BreakGlassRefused) as again:
        break_glass.break_glass(
            gov, model="churn", version="1.1.0", actor=CAROL, reason="again", now=at
        )
    assert str(again.value) == (
        f"churn@1.1.0: its production request {review.id} was rejected by dave (risk_officer) "
        f"on 2026-11-25: {NOTES}: break-glass may not put it in production until a later "
        "production request is approved"
    )
    assert versions.resolve(gov, "churn@production").version == "1.0.0"


def test_a_rejection_past_the_previous_versions_grace_is_escalated_until_a_lead_acts(
    broken, codes, now
):
    gov, review = broken
    at = now + timedelta(days=31)  # 1.0.0's 30-day grace period is over
    reject(gov, codes, review, at)
    assert versions.resolve(gov, "churn@production").version == "1.1.0"
    sunset = (now + timedelta(days=30)).isoformat()
    outcome = (
        f"escalated: the previous production version churn@1.0.0 passed its sunset at {sunset}; "
        "churn@1.1.0 stays in production until an ml_lead acts (rolls back, or promotes a "
        "successor)"
    )
    assert stored(gov, review) == (RequestStatus.rejected, None, outcome)
    [escalation] = audit.history(gov, event_type="break_glass.rejection_escalated")
    assert (escalation.actor, escalation.details["policy"]) == ("dave", "rollback")
    assert escalation.details["reason"] == (
        f"the previous production version churn@1.0.0 passed its sunset at {sunset}"
    )
    assert [r.id for r in retro_review.escalated(gov)] == [review.id]

    # The nightly audit names it as a breach.
    row, _ = retirement_audit.audit_version(gov, "churn", "1.1.0", audit_run="night-1", now=at)
    [finding] = [f for f in row.findings if f["check"] == Check.break_glass.value]
    assert finding["status"] == Status.breached.value
    assert finding["message"] == (
        "1 break-glass retro-review(s) rejected and escalated, the version still in production "
        f"until an ml_lead acts: {review.id}"
    )
    assert finding["figures"] == {"open_reviews": [], "escalated_reviews": [review.id]}

    # carol acts: she takes 1.1.0 out of service, naming the outage. The escalation ends.
    continuity.transition(
        gov, "churn", "1.1.0", S.deprecated, actor=CAROL, now=at + timedelta(minutes=1),
        reason="retro-review rejected", outage="triage falls back to the manual queue",
    )  # fmt: skip
    assert retro_review.escalated(gov) == []
    later = at + timedelta(days=1)
    row, _ = retirement_audit.audit_version(gov, "churn", "1.1.0", audit_run="night-2", now=later)
    [finding] = [f for f in row.findings if f["check"] == Check.break_glass.value]
    assert (finding["status"], finding["message"]) == (
        Status.ok.value,
        "no break-glass retro-review is open",
    )
    assert audit.verify(gov).state_rows > 0


def test_a_break_glass_with_nothing_before_it_is_escalated(
    gov, model_bytes, register_churn, codes, now
):
    register_churn("1.1.0", model_bytes[1])
    seed_stage(gov, "churn", "1.1.0", S.staging, now=now)
    _, review = break_glass.break_glass(
        gov, model="churn", version="1.1.0", actor=CAROL, reason="first release", now=now
    )
    reject(gov, codes, review, now)
    assert stored(gov, review) == (
        RequestStatus.rejected,
        None,
        "escalated: no version was in production before the break-glass; churn@1.1.0 stays "
        "in production until an ml_lead acts (rolls back, or promotes a successor)",
    )
    assert [r.id for r in retro_review.escalated(gov)] == [review.id]
