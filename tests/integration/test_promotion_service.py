"""Promotion on real SQLite and PostgreSQL: preconditions, completion, and voided evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seeding import approved_request

from governance.config import EXAMPLE_POLICY
from governance.domain.approvals import RequestStatus
from governance.domain.errors import (
    DigestMismatch,
    EvidenceChanged,
    IllegalTransition,
    IncompleteCard,
    InvalidInput,
    ModelNotFound,
    RequestClosed,
    VersionNotFound,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.domain.run_parameters import parameters_digest
from governance.services.promotion import (
    approval_queue,
    approval_requests,
    completion,
    decisions,
    preconditions,
)
from governance.services.registry import cards
from governance.services.registry import versions as registry_versions
from governance.services.trust import audit
from governance.store.tables_promotion import approval_requests as approval_requests_table

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
def staged(staged_run):
    """The shared staged candidate and its passed evaluation run."""
    return staged_run


def open_request(gov, run, now, approve=True):
    if approve:
        return approved_request(gov, CODES["now"], now, version="1.1.0", evaluation_run_id=run.id)
    return approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=S.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=run.id,
        now=now,
    )


def snapshot(gov, request_id=None):
    """The registry, the audit trail and (if given) the stored request."""
    with gov.store.read() as tx:
        stored = tx.approvals.get(request_id) if request_id else None
        return tx.registry.search(), tx.audit.query(), stored


def tamper(gov, digest):
    path = gov.artifacts.path_for(digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_preconditions_pass_for_a_ready_version(gov, staged, now):
    found = preconditions.check_preconditions(
        gov, model="churn", version="1.1.0", target=S.production, now=now
    )
    assert found.version == "1.1.0" and found.stage == S.staging


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("no_model", ModelNotFound, "unknown model 'ghost'"),
        ("no_version", VersionNotFound, "has no version '9.9.9'"),
        ("illegal", IllegalTransition, "development -> production"),
        ("card", IncompleteCard, "missing review_schedule"),
        ("tampered", DigestMismatch, "changed: expected sha256"),
    ],
)
def test_precondition_refusals_change_nothing(gov, staged, now, example_card, case, error, message):
    args = {"model": "churn", "version": "1.1.0"}
    if case == "no_model":
        args["model"] = "ghost"
    elif case == "no_version":
        args["version"] = "9.9.9"
    elif case == "illegal":
        args["version"] = "1.2.0"
    elif case == "card":
        # Complete enough for staging, where 1.1.0 is, but not for production.
        thin = example_card.model_copy(update={"review_schedule": ""})
        cards.revise_card(gov, "churn", "1.1.0", thin, actor="alice", now=now)
    else:
        tamper(gov, registry_versions.resolve(gov, "churn@1.1.0").artifact_digest)
    before = snapshot(gov)

    with pytest.raises(error, match=message):
        preconditions.check_preconditions(gov, **args, target=S.production, now=now)

    assert snapshot(gov) == before


def test_complete_promotion_swaps_production_and_audits(gov, staged, now):
    request = open_request(gov, staged, now)
    later = now + timedelta(hours=1)

    promoted = completion.complete_promotion(gov, request_id=request.id, actor="bob", now=later)

    assert promoted.version == "1.1.0" and promoted.stage == S.production
    assert registry_versions.resolve(gov, "churn@production").version == "1.1.0"
    old = registry_versions.resolve(gov, "churn@1.0.0")
    assert old.stage == S.deprecated and old.sunset_at == later + timedelta(days=30)
    (event,) = audit.history(gov, event_type="model.promoted")
    assert (event.actor, event.version) == ("bob", "1.1.0")
    assert event.details["request_id"] == request.id
    assert event.details["evidence_digest"] == request.evidence_digest
    assert event.details["evaluation_run_id"] == staged.id
    assert event.details["approvers"] == [{"approver": p, "role": r} for p, r in APPROVERS]
    assert audit.verify_chain(gov).ok
    with pytest.raises(RequestClosed, match="already carried out"):
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=later)
    with pytest.raises(RequestClosed, match="takes no more decisions"):
        decisions.decide(
            gov,
            request_id=request.id,
            approver="carol",
            role="ml_lead",
            decision="revoke",
            code=code("carol", later),
            now=later,
        )


def test_revised_card_voids_the_approvals(gov, staged, now, example_card):
    request = open_request(gov, staged, now)
    edited = example_card.model_copy(update={"known_limitations": ["a new limitation"]})
    cards.revise_card(gov, "churn", "1.1.0", edited, actor="alice", now=now)
    before_versions, before_events, _ = snapshot(gov)

    with pytest.raises(EvidenceChanged, match="card_hash changed since approval"):
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)

    versions, events, stored = snapshot(gov, request.id)
    assert versions == before_versions
    assert registry_versions.resolve(gov, "churn@production").version == "1.0.0"
    assert stored.request.status == RequestStatus.void and stored.completed_at is None
    (voided,) = events[len(before_events) :]
    assert voided.event_type == "approval.voided" and voided.details["changed"] == ["card_hash"]
    assert voided.details["current_evidence"]["card_hash"] != request.evidence["card_hash"]
    assert audit.verify_chain(gov).ok
    with pytest.raises(RequestClosed, match="is void, not approved"):
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)


def test_policy_edit_voids_the_approvals(gov, staged, now, tmp_path):
    request = open_request(gov, staged, now)
    edited = tmp_path / "governance.yaml"
    text = EXAMPLE_POLICY.read_text()
    edited.write_text(text.replace("approval_timeout_hours: 72", "approval_timeout_hours: 48"))
    gov.settings.policy_file = edited
    gov.reload_policy()

    with pytest.raises(EvidenceChanged, match="policy_version changed since approval"):
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)

    assert approval_requests.get_request(gov, request.id).status == RequestStatus.void
    assert registry_versions.resolve(gov, "churn@production").version == "1.0.0"


def test_completing_an_open_request_is_refused_and_changes_nothing(gov, staged, now):
    request = open_request(gov, staged, now, approve=False)
    before = snapshot(gov, request.id)

    with pytest.raises(RequestClosed) as refused:
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)

    assert str(refused.value) == (
        f"request {request.id} is open, not approved (still needs ml_lead, risk_officer, legal)"
    )
    assert snapshot(gov, request.id) == before


def test_artifact_bytes_changed_after_approval_void_the_request(gov, staged, now):
    request = open_request(gov, staged, now)
    digest = request.evidence["artifact_digest"]
    tamper(gov, digest)

    with pytest.raises(EvidenceChanged) as voided:
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)

    path = gov.artifacts.path_for(digest)
    assert str(voided.value).startswith(
        f"approvals void: artifact_digest changed: artifact at {path} changed: "
        f"expected sha256 {digest}, found "
    )
    assert approval_requests.get_request(gov, request.id).status == RequestStatus.void
    assert registry_versions.resolve(gov, "churn@production").version == "1.0.0"
    [event] = audit.history(gov, event_type="approval.voided")
    assert event.details["changed"] == ["artifact_digest"]


def test_the_sweep_expires_an_overdue_promotion_request_with_no_process(gov, staged, now):
    request = open_request(gov, staged, now, approve=False)
    deadline = request.expires_at
    assert approval_queue.expire_overdue(gov, deadline - timedelta(seconds=1)) == []
    [expired] = approval_queue.expire_overdue(gov, deadline)
    assert (expired.id, expired.status) == (request.id, RequestStatus.expired)
    assert approval_requests.get_request(gov, request.id).status == RequestStatus.expired
    [event] = audit.history(gov, event_type="approval.expired", model="churn")
    assert (event.actor, event.details["request_id"]) == ("system", request.id)
    assert event.details["before_deadline"] is False


RUN_PARAMETERS = {"model": "churn", "version": "1.1.0", "target": "production",
                  "strategy": "direct", "endpoint": None}  # fmt: skip


def test_the_request_binds_its_run_parameters_and_an_edit_of_them_voids_it(gov, staged, now):
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=S.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged.id,
        now=now,
        flow_run_id="run-p",
        run_parameters=RUN_PARAMETERS,
    )
    assert request.run_parameters == RUN_PARAMETERS
    assert request.evidence["parameters_digest"] == parameters_digest(RUN_PARAMETERS)
    [requested] = audit.history(gov, event_type="approval.requested")
    assert requested.details["run_parameters"] == RUN_PARAMETERS
    assert requested.details["evidence"]["parameters_digest"] == parameters_digest(RUN_PARAMETERS)
    for person, role in APPROVERS:
        decisions.decide(gov, request_id=request.id, approver=person, role=role,
                         decision="approve", code=code(person, now), now=now)  # fmt: skip
    # A database writer changes what the run was approved for.
    with gov.engine.begin() as conn:
        conn.execute(
            approval_requests_table.update().values(
                run_parameters={**RUN_PARAMETERS, "strategy": "canary"}
            )
        )
    with pytest.raises(EvidenceChanged) as voided:
        completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)
    assert str(voided.value).startswith("approvals void: parameters_digest changed since approval")
    assert registry_versions.resolve(gov, "churn@1.1.0").stage == S.staging
    assert approval_requests.get_request(gov, request.id).status == RequestStatus.void


def test_the_run_rechecks_what_the_cli_checks(gov, staged, now):
    # churn 1.2.0 is a development version: no canary of it, to staging or to production.
    asked = {"model": "churn", "version": "1.2.0", "endpoint": None, "now": now}
    with pytest.raises(InvalidInput) as refused:
        preconditions.check_submission(gov, target="staging", strategy="canary", **asked)
    assert str(refused.value) == "strategy canary applies to production; staging is direct"
    with pytest.raises(IllegalTransition) as refused:
        preconditions.check_submission(gov, target="production", strategy="canary", **asked)
    assert "development" in str(refused.value) and "production" in str(refused.value)
    found, endpoint = preconditions.check_submission(
        gov, target="staging", strategy="direct", **asked
    )
    assert (found.version, endpoint) == ("1.2.0", None)
