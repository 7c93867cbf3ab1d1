"""Approval requests: required roles, refusals, quorum, expiry and evidence binding."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from governance.domain.approvals import (
    Approval,
    ApprovalRequest,
    RequestStatus,
    active_approvals,
    check_evidence,
    expire,
    missing_roles,
    open_request,
    required_roles,
    void,
)
from governance.domain.decisions import apply_decision, check_decision, decide
from governance.domain.errors import (
    EvidenceChanged,
    InvalidInput,
    NotInRoster,
    RequestClosed,
    RoleNotHeld,
    SeparationOfDuties,
)
from governance.domain.evidence import (
    EVIDENCE_FIELDS,
    NO_INCUMBENT,
    evidence_digest,
    evidence_parts,
)
from governance.domain.models import LifecycleStage, RiskLevel
from governance.domain.policy import Policy, policy_from_mapping

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ROSTER = {
    "alice": ["ml_engineer"],
    "bob": ["ml_engineer"],
    "carol": ["ml_lead"],
    "dave": ["risk_officer"],
    "erin": ["legal"],
    "frank": ["ml_lead", "risk_officer"],
    "gina": ["ml_engineer"],
}
PARTS = {
    "artifact_digest": "a" * 64,
    "card_hash": "c" * 64,
    "evaluation_run_id": "run-7",
    "evaluation_digest": "e" * 64,
    "incumbent_version": "1.0.0",
    "policy_version": "p" * 64,
    "target_stage": "production",
}


def make_policy(**sections: object) -> Policy:
    return policy_from_mapping({"roster": ROSTER, **sections})


def make_request(
    stage: LifecycleStage = LifecycleStage.production,
    risk: RiskLevel = RiskLevel.low,
    policy: Policy | None = None,
    requested_by: str = "alice",
    created_by: str = "alice",
    incumbent: str = "1.0.0",
) -> ApprovalRequest:
    return open_request(
        id="req-1",
        model_name="churn",
        version="1.2.0",
        target_stage=stage,
        risk=risk,
        requested_by=requested_by,
        version_created_by=created_by,
        artifact_digest="a" * 64,
        card_hash="c" * 64,
        evaluation_run_id="run-7",
        evaluation_digest="e" * 64,
        incumbent_version=incumbent,
        policy=policy or make_policy(),
        now=NOW,
    )


def exactly(message: str) -> str:
    """A `match=` pattern for the whole message, not a fragment of it."""
    return f"^{re.escape(message)}$"


def voided(what: str, request: ApprovalRequest, current_digest: str) -> str:
    """The full EvidenceChanged message for `what` moving on `request`."""
    return (
        f"approvals void: {what} changed since approval "
        f"(approved {request.evidence_digest[:12]}, now {current_digest[:12]})"
    )


def act(request, approver, role, decision="approve", policy=None, now=NOW):
    return decide(
        request,
        approver=approver,
        role=role,
        decision=decision,
        policy=policy or make_policy(),
        now=now,
    )


# required roles


def test_staging_needs_one_ml_engineer():
    assert required_roles(make_policy(), LifecycleStage.staging, RiskLevel.high) == {
        "ml_engineer": 1
    }


@pytest.mark.parametrize("risk", [RiskLevel.low, RiskLevel.medium])
def test_production_at_low_risk_needs_lead_and_risk_officer(risk):
    needed = required_roles(make_policy(), LifecycleStage.production, risk)
    assert needed == {"ml_lead": 1, "risk_officer": 1}


@pytest.mark.parametrize("risk", [RiskLevel.high, RiskLevel.critical])
def test_production_at_high_risk_adds_legal(risk):
    needed = required_roles(make_policy(), LifecycleStage.production, risk)
    assert needed == {"ml_lead": 1, "risk_officer": 1, "legal": 1}


def test_quorum_sets_the_count_per_role():
    policy = make_policy(approvals={"quorum": {"ml_engineer": 2}})
    assert required_roles(policy, LifecycleStage.staging, RiskLevel.low) == {"ml_engineer": 2}


def test_no_approval_rules_for_other_stages():
    with pytest.raises(
        InvalidInput,
        match=exactly(
            "no approval rules for target stage retired: "
            "approvals are defined for staging and production"
        ),
    ):
        required_roles(make_policy(), LifecycleStage.retired, RiskLevel.low)


# evidence


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # Computed once, outside Python, with `printf '%s' '<canonical JSON>' | sha256sum` over
        # {"artifact_digest":"aaa…","card_hash":"ccc…","evaluation_digest":"eee…",
        # "evaluation_run_id":"run-7","incumbent_version":"1.0.0","policy_version":"ppp…",
        # "target_stage":"production"}
        (
            {
                "artifact_digest": "a" * 64,
                "card_hash": "c" * 64,
                "evaluation_run_id": "run-7",
                "evaluation_digest": "e" * 64,
                "incumbent_version": "1.0.0",
                "policy_version": "p" * 64,
                "target_stage": "production",
            },
            "0df7ed06cf2d46c42b71aa1f62e7bb3bdad2df21296f68e62d25467554e58c68",
        ),
        # Non-ASCII is hashed as UTF-8, not \u-escaped: {"artifact_digest":"01",
        # "card_hash":"02","evaluation_digest":"id:évaluation-1",
        # "evaluation_run_id":"évaluation-1","incumbent_version":"none",
        # "policy_version":"03","target_stage":"staging"}
        (
            {
                "target_stage": "staging",
                "policy_version": "03",
                "incumbent_version": "none",
                "evaluation_run_id": "évaluation-1",
                "evaluation_digest": "id:évaluation-1",
                "card_hash": "02",
                "artifact_digest": "01",
            },
            "8307d794a2a766697df5eccd1db4e7fa4e5a9280e23dbac94703d1be4f9af465",
        ),
    ],
)
def test_evidence_digest_matches_fixed_vectors(facts, expected):
    assert evidence_digest(**facts) == expected


@pytest.mark.parametrize("field", EVIDENCE_FIELDS)
def test_evidence_digest_changes_with_each_part(field):
    assert evidence_digest(**{**PARTS, field: PARTS[field] + "x"}) != evidence_digest(**PARTS)


def test_empty_evidence_part_is_refused():
    with pytest.raises(InvalidInput, match=exactly("evidence incomplete: card_hash is empty")):
        evidence_parts(**{**PARTS, "card_hash": ""})


def test_open_request_binds_evidence_policy_and_expiry():
    policy = make_policy(approval_timeout_hours=2)
    request = make_request(policy=policy)
    assert request.evidence["policy_version"] == policy.version
    assert request.evidence["target_stage"] == "production"
    assert request.evidence_digest == evidence_digest(**request.evidence)
    assert request.expires_at == NOW + timedelta(hours=2)
    assert request.status == RequestStatus.open
    assert missing_roles(request) == {"ml_lead": 1, "risk_officer": 1}


@pytest.mark.parametrize("incumbent", ["1.0.0", NO_INCUMBENT])
def test_open_request_binds_the_incumbent_production_version(incumbent):
    policy = make_policy()
    request = make_request(policy=policy, incumbent=incumbent)
    assert request.evidence == {
        **PARTS,
        "incumbent_version": incumbent,
        "policy_version": policy.version,
    }
    assert request.evidence_digest == evidence_digest(**request.evidence)


def test_open_request_without_an_incumbent_is_refused():
    with pytest.raises(
        InvalidInput, match=exactly("evidence incomplete: incumbent_version is empty")
    ):
        make_request(incumbent="")


def test_a_new_incumbent_voids_the_approvals():
    request = act(make_request(incumbent="1.0.0"), "carol", "ml_lead")
    current = {**request.evidence, "incumbent_version": "1.1.0"}
    digest = evidence_digest(**current)
    with pytest.raises(
        EvidenceChanged, match=exactly(voided("incumbent_version", request, digest))
    ):
        check_evidence(request, digest, current)
    assert request.status == RequestStatus.open
    assert [a.approver for a in active_approvals(request)] == ["carol"]


@pytest.mark.parametrize("field", EVIDENCE_FIELDS)
def test_check_evidence_names_the_changed_part(field):
    request = make_request()
    current = {**request.evidence, field: "changed"}
    digest = evidence_digest(**current)
    named = f"{field} (evaluation run-7)" if field == "evaluation_digest" else field
    with pytest.raises(EvidenceChanged, match=exactly(voided(named, request, digest))):
        check_evidence(request, digest, current)


def test_check_evidence_passes_when_nothing_moved():
    request = make_request()
    assert check_evidence(request, request.evidence_digest, dict(request.evidence)) is None


def test_check_evidence_without_parts_still_refuses():
    request = make_request()
    with pytest.raises(EvidenceChanged, match=exactly(voided("the evidence", request, "f" * 64))):
        check_evidence(request, "f" * 64)


# happy paths


def test_staging_approved_by_another_engineer():
    request = act(make_request(LifecycleStage.staging), "bob", "ml_engineer")
    assert request.status == RequestStatus.approved
    assert missing_roles(request) == {}


def test_production_low_risk_needs_both_roles():
    request = act(make_request(), "carol", "ml_lead")
    assert request.status == RequestStatus.open
    assert missing_roles(request) == {"risk_officer": 1}
    request = act(request, "dave", "risk_officer")
    assert request.status == RequestStatus.approved
    assert [a.approver for a in request.approvals] == ["carol", "dave"]


def test_high_risk_stays_open_until_legal_approves():
    request = make_request(risk=RiskLevel.critical)
    request = act(act(request, "carol", "ml_lead"), "frank", "risk_officer")
    assert request.status == RequestStatus.open
    assert missing_roles(request) == {"legal": 1}
    assert act(request, "erin", "legal").status == RequestStatus.approved


def test_quorum_two_of_n_needs_two_distinct_people():
    policy = make_policy(approvals={"quorum": {"ml_engineer": 2}})
    request = make_request(LifecycleStage.staging, policy=policy)
    request = act(request, "bob", "ml_engineer", policy=policy)
    assert request.status == RequestStatus.open
    assert missing_roles(request) == {"ml_engineer": 1}
    request = act(request, "gina", "ml_engineer", policy=policy)
    assert request.status == RequestStatus.approved


def test_approval_records_evidence_and_policy_version():
    policy = make_policy()
    request = act(make_request(policy=policy), "carol", "ml_lead", policy=policy)
    approval = request.approvals[0]
    assert approval.evidence_digest == request.evidence_digest
    assert approval.policy_version == policy.version
    assert approval.decided_at == NOW


def test_reject_closes_the_request():
    request = act(make_request(), "carol", "ml_lead", "reject")
    assert request.status == RequestStatus.rejected
    with pytest.raises(RequestClosed, match=exactly("request req-1 is rejected, not open")):
        act(request, "dave", "risk_officer")


def test_revoke_takes_an_approval_back_and_reopens():
    request = act(act(make_request(), "carol", "ml_lead"), "dave", "risk_officer")
    assert request.status == RequestStatus.approved
    request = act(request, "dave", "risk_officer", "revoke")
    assert request.status == RequestStatus.open
    assert missing_roles(request) == {"risk_officer": 1}
    assert [a.approver for a in active_approvals(request)] == ["carol"]
    assert len(request.approvals) == 3, "the revoked approval stays in the record"


def test_revoke_then_approve_again_is_allowed():
    request = act(make_request(), "carol", "ml_lead")
    request = act(act(request, "carol", "ml_lead", "revoke"), "carol", "ml_lead")
    assert missing_roles(request) == {"risk_officer": 1}


# refusals, in the order they are checked


def test_expired_request_is_closed():
    request = make_request()
    with pytest.raises(
        RequestClosed, match=exactly("request req-1 expired at 2025-03-04T09:00:00+00:00")
    ):
        check_decision(
            request,
            approver="carol",
            role="ml_lead",
            decision="approve",
            policy=make_policy(),
            now=request.expires_at,
        )


def test_closed_request_is_refused_before_anything_else():
    request = expire(make_request(), NOW + timedelta(days=4))
    with pytest.raises(RequestClosed, match=exactly("request req-1 is expired, not open")):
        act(request, "mallory", "ml_lead")


def test_approver_not_in_roster():
    with pytest.raises(NotInRoster, match=exactly("mallory is not in the policy roster")):
        act(make_request(), "mallory", "ml_lead")


def test_role_not_held():
    with pytest.raises(RoleNotHeld, match=exactly("dave does not hold the role ml_lead")):
        act(make_request(), "dave", "ml_lead")


def test_requester_cannot_approve():
    request = make_request(LifecycleStage.staging, requested_by="bob", created_by="gina")
    with pytest.raises(SeparationOfDuties, match=exactly("bob cannot approve their own request")):
        act(request, "bob", "ml_engineer")


def test_registrant_cannot_approve():
    request = make_request(LifecycleStage.staging, requested_by="carol", created_by="bob")
    with pytest.raises(
        SeparationOfDuties,
        match=exactly("bob registered this version of churn and cannot approve it"),
    ):
        act(request, "bob", "ml_engineer")


def test_role_not_required_is_refused():
    with pytest.raises(InvalidInput, match=exactly("role legal is not required for this request")):
        act(make_request(risk=RiskLevel.low), "erin", "legal")


def test_one_person_fills_at_most_one_role():
    request = act(make_request(), "frank", "ml_lead")
    with pytest.raises(
        SeparationOfDuties,
        match=exactly(
            "frank already approved as ml_lead; one person fills at most one role per request"
        ),
    ):
        act(request, "frank", "risk_officer")


def test_second_approval_for_the_same_role_is_refused():
    request = act(make_request(), "carol", "ml_lead")
    with pytest.raises(
        SeparationOfDuties, match=exactly("carol already decided: approved as ml_lead")
    ):
        act(request, "carol", "ml_lead")


def test_revoke_without_an_approval_is_refused():
    with pytest.raises(
        InvalidInput, match=exactly("carol has no approval to revoke on request req-1")
    ):
        act(make_request(), "carol", "ml_lead", "revoke")


def test_unknown_decision_is_refused():
    with pytest.raises(
        InvalidInput, match=exactly("unknown decision 'maybe': expected approve, reject or revoke")
    ):
        act(make_request(), "carol", "ml_lead", "maybe")


def test_refused_decision_changes_nothing():
    request = make_request()
    with pytest.raises(RoleNotHeld):
        act(request, "dave", "ml_lead")
    assert request.approvals == []
    assert request.status == RequestStatus.open


def test_apply_decision_refuses_an_approval_on_other_evidence():
    request = make_request()
    stale = Approval(
        approver="carol",
        role="ml_lead",
        decision="approve",
        evidence_digest="0" * 64,
        policy_version="p",
        decided_at=NOW,
    )
    with pytest.raises(
        EvidenceChanged,
        match=exactly(
            "decision by carol was made on evidence 000000000000, "
            f"but request req-1 is bound to {request.evidence_digest[:12]}"
        ),
    ):
        apply_decision(request, stale)


def test_apply_decision_refuses_after_expiry():
    request = make_request()
    late = Approval(
        approver="carol",
        role="ml_lead",
        decision="approve",
        evidence_digest=request.evidence_digest,
        policy_version="p",
        decided_at=request.expires_at + timedelta(seconds=1),
    )
    with pytest.raises(
        RequestClosed, match=exactly("request req-1 expired at 2025-03-04T09:00:00+00:00")
    ):
        apply_decision(request, late)


# expiry and void


def test_expire_marks_an_open_request_past_its_deadline():
    request = make_request()
    assert expire(request, request.expires_at - timedelta(seconds=1)).status == "open"
    assert expire(request, request.expires_at).status == RequestStatus.expired


def test_expire_leaves_a_decided_request_alone():
    request = act(make_request(LifecycleStage.staging), "bob", "ml_engineer")
    assert expire(request, NOW + timedelta(days=30)).status == RequestStatus.approved


def test_void_marks_open_or_approved_but_not_rejected():
    assert void(make_request()).status == RequestStatus.void
    rejected = act(make_request(), "carol", "ml_lead", "reject")
    assert void(rejected).status == RequestStatus.rejected
