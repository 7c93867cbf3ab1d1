"""Approval requests on real SQLite and PostgreSQL: roles, refusals on record, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
import skops.io as sio
from seeding import seed_stage
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier

from governance.domain.approvals import RequestStatus
from governance.domain.errors import (
    IllegalTransition,
    InvalidDecision,
    InvalidInput,
    NotFound,
    NotInRoster,
    RequestClosed,
    RoleNotHeld,
    SeparationOfDuties,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.services.promotion import (
    approval_queue,
    approval_requests,
    decisions,
    evaluation,
    evidence,
)
from governance.services.trust import audit

S = LifecycleStage
CODES = {}


@pytest.fixture(autouse=True)
def _authenticators(request):
    """Each decision below carries the approver's real one-time code for its time."""
    if "gov" in request.fixturenames:
        CODES["now"] = request.getfixturevalue("codes")
    yield
    CODES.clear()


def code(approver, at):
    """What `approver`'s authenticator shows at `at`."""
    return CODES["now"](approver, at) if "now" in CODES else ""


APPROVERS = [("carol", "ml_lead"), ("dave", "risk_officer"), ("erin", "legal")]


@pytest.fixture
def request_(gov, now, staged_run):
    """An open request by alice to move churn 1.1.0 (high risk) to production."""
    run = staged_run
    return approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=S.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=run.id,
        now=now,
    )


def decide(gov, request, approver, role, now, decision="approve", notes=""):
    return decisions.decide(
        gov,
        request_id=request.id,
        approver=approver,
        role=role,
        decision=decision,
        notes=notes,
        code=code(approver, now),
        now=now,
    )


def snapshot(gov, request_id):
    """The request, its refusals, the registry and the audit trail."""
    with gov.store.read() as tx:
        return (
            tx.approvals.get(request_id),
            tx.approvals.refusals(request_id),
            tx.registry.search(),
            tx.audit.query(),
        )


def test_production_needs_lead_risk_and_legal(gov, request_, now):
    assert request_.required == {"ml_lead": 1, "risk_officer": 1, "legal": 1}
    assert request_.expires_at == now + timedelta(hours=72)
    assert evidence.current_evidence(gov, request_) == request_.evidence
    assert request_.evidence["policy_version"] == gov.policy.version
    (opened,) = audit.history(gov, event_type="approval.requested")
    assert opened.details["required"] == request_.required
    assert opened.details["evidence_digest"] == request_.evidence_digest
    assert [r.id for r in approval_requests.pending_requests(gov)] == [request_.id]

    for i, (person, role) in enumerate(APPROVERS):
        decided = decide(gov, request_, person, role, now + timedelta(hours=i), notes=f"ok {i}")
    assert decided.status == RequestStatus.approved
    assert approval_requests.get_request(gov, request_.id) == decided
    assert approval_requests.pending_requests(gov) == []

    events = audit.history(gov, event_type="approval.decided")
    assert [(e.actor, e.details["role"], e.details["decision"]) for e in events] == [
        (person, role, "approve") for person, role in APPROVERS
    ]
    for event in events:
        assert event.details["evidence_digest"] == request_.evidence_digest
        assert event.details["policy_version"] == gov.policy.version
        assert event.details["notes"].startswith("ok ")
    (approved,) = audit.history(gov, event_type="approval.approved")
    assert approved.details["request_id"] == request_.id and audit.verify_chain(gov).ok


def test_one_rejection_closes_the_request(gov, request_, now):
    rejected = decide(gov, request_, "carol", "ml_lead", now, "reject", "fairness unclear")

    assert rejected.status == RequestStatus.rejected
    (event,) = audit.history(gov, event_type="approval.rejected")
    assert event.actor == "carol"
    with pytest.raises(RequestClosed, match="is rejected, not open"):
        decide(gov, request_, "dave", "risk_officer", now)
    (refused,) = approval_requests.refused_attempts(gov, request_.id)
    assert (refused.approver, refused.error) == ("dave", "RequestClosed")


def test_revoke_reopens_an_approved_request(gov, request_, now):
    for person, role in APPROVERS:
        decide(gov, request_, person, role, now)

    later = now + timedelta(minutes=1)  # dave's code of `now` is spent
    reopened = decide(gov, request_, "dave", "risk_officer", later, "revoke", "new concern")

    assert reopened.status == RequestStatus.open
    assert [r.id for r in approval_requests.pending_requests(gov)] == [request_.id]


@pytest.mark.parametrize(
    ("approver", "role", "error", "message"),
    [
        ("alice", "ml_engineer", SeparationOfDuties, "cannot approve their own request"),
        ("frank", "risk_officer", SeparationOfDuties, "one person fills at most one role"),
        ("mallory", "ml_lead", NotInRoster, "mallory is not in the policy roster"),
        ("dave", "ml_lead", RoleNotHeld, "dave does not hold the role ml_lead"),
        ("dave", "risk_officer", RequestClosed, "expired at"),
        ("bob", "ml_engineer", InvalidDecision, "role ml_engineer is not required"),
    ],
)
def test_refusal_is_recorded_and_audited_and_nothing_else_changes(
    gov, request_, now, approver, role, error, message
):
    decide(gov, request_, "frank", "ml_lead", now)
    when = now + timedelta(hours=73) if error is RequestClosed else now
    stored, _, versions, events = snapshot(gov, request_.id)

    with pytest.raises(error, match=message):
        decide(gov, request_, approver, role, when, notes="trying")

    after, new_refusals, after_versions, after_events = snapshot(gov, request_.id)
    assert after == stored and after.request.status == RequestStatus.open
    assert after_versions == versions
    (attempt,) = new_refusals
    assert (attempt.approver, attempt.role, attempt.error) == (approver, role, error.__name__)
    assert message in attempt.reason
    (event,) = after_events[len(events) :]
    assert event.event_type == "approval.refused" and event.actor == approver
    assert event.details["reason"] == attempt.reason and event.details["notes"] == "trying"
    assert event.details["evidence_digest"] == request_.evidence_digest
    assert audit.verify_chain(gov).ok


def test_unknown_decision_is_recorded_as_refused(gov, request_, now):
    with pytest.raises(InvalidDecision, match="unknown decision 'maybe'") as info:
        decide(gov, request_, "carol", "ml_lead", now, decision="maybe")

    assert isinstance(info.value, InvalidInput)
    (attempt,) = approval_requests.refused_attempts(gov, request_.id)
    assert (attempt.decision, attempt.error) == ("maybe", "InvalidDecision")
    assert approval_requests.get_request(gov, request_.id).approvals == []


def test_overlong_name_is_refused_without_a_record(gov, request_, now):
    before = snapshot(gov, request_.id)

    with pytest.raises(InvalidInput, match="a person's name is longer than 128 characters"):
        decide(gov, request_, "x" * 129, "ml_lead", now)

    assert snapshot(gov, request_.id) == before


def test_expiry_closes_the_request(gov, request_, now):
    later = now + timedelta(hours=72)

    expired = approval_queue.expire_request(gov, request_.id, later)

    assert expired.status == RequestStatus.expired
    assert approval_requests.get_request(gov, request_.id).status == RequestStatus.expired
    (event,) = audit.history(gov, event_type="approval.expired")
    assert event.details["before_deadline"] is False
    assert event.details["missing_roles"] == request_.required
    with pytest.raises(RequestClosed, match="is expired, not open"):
        approval_queue.expire_request(gov, request_.id, later)
    with pytest.raises(RequestClosed):
        decide(gov, request_, "carol", "ml_lead", later)


@pytest.mark.parametrize("case", ["failed_gate", "other_version", "no_run", "no_rules"])
def test_open_approval_refusals_change_nothing(gov, request_, now, register_churn, case):
    x, y = load_breast_cancer(return_X_y=True)
    dummy = sio.dumps(DummyClassifier(strategy="most_frequent").fit(x, y))
    register_churn("2.0.0", dummy)
    seed_stage(gov, "churn", "2.0.0", S.staging, now=now)
    bad = evaluation.evaluate(
        gov, model="churn", version="2.0.0", dataset="holdout", actor="alice", now=now
    )
    args = {"version": "2.0.0", "target": S.production, "evaluation_run_id": bad.id}
    error, message = InvalidInput, "did not pass the gate"
    if case == "other_version":
        args["evaluation_run_id"] = request_.evidence["evaluation_run_id"]
        error, message = InvalidInput, "is of churn@1.1.0, not churn@2.0.0"
    elif case == "no_run":
        args["evaluation_run_id"] = "nope"
        error, message = NotFound, "unknown evaluation run"
    elif case == "no_rules":
        args.update(version="1.1.0", target="retired")
        args["evaluation_run_id"] = request_.evidence["evaluation_run_id"]
        error, message = InvalidInput, "no approval rules for target stage retired"
    before = snapshot(gov, request_.id)

    with pytest.raises(error, match=message):
        approval_requests.open_approval(
            gov,
            model="churn",
            requester=VerifiedActor(name="alice", method="totp"),
            now=now,
            **args,
        )

    assert snapshot(gov, request_.id) == before


def test_open_approval_refuses_a_move_the_stage_machine_forbids(gov, request_, now):
    with pytest.raises(IllegalTransition, match="staging -> staging"):
        approval_requests.open_approval(
            gov,
            model="churn",
            version="1.1.0",
            target="staging",
            requester=VerifiedActor(name="alice", method="totp"),
            evaluation_run_id=request_.evidence["evaluation_run_id"],
            now=now,
        )


def test_unknown_request_is_not_found_and_records_nothing(gov, request_, now):
    before = snapshot(gov, request_.id)

    with pytest.raises(NotFound, match="unknown approval request 'nope'"):
        approval_requests.get_request(gov, "nope")
    with pytest.raises(NotFound, match="unknown approval request 'nope'"):
        decisions.decide(
            gov, request_id="nope", approver="carol", role="ml_lead", decision="approve", now=now
        )

    assert snapshot(gov, request_.id) == before
