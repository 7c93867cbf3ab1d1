"""promote-model served for real: requester check, gate, suspends per role, named end states."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml
from flowkit import actor, now, wait_final, wait_suspended
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run

from flows import promotion_runs
from flows.approval import answer_key
from governance.domain.approvals import RequestStatus
from governance.domain.errors import InvalidCode, NotInRoster, SeparationOfDuties
from governance.domain.models import LifecycleStage, RiskLevel
from governance.services.promotion import approval_queue, approval_requests
from governance.services.registry import cards, versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints
from governance.services.trust import audit, identity

pytestmark = pytest.mark.sqlite_only


def events(w, event_type, model=None):
    """Audit events of one type about one of this test's models."""
    return audit.history(w.gov, event_type=event_type, model=model or w.churn)


def start(w, model=None, version="1.1.0", by="alice", target="production", **extra):
    """`governance promote` as `by`: checks, a request token, the run; returns the run id."""
    params = {
        "model": model or w.churn,
        "version": version,
        "dataset": "holdout",
        "target": target,
        **extra,
    }
    run = promotion_runs.submit_promotion(w.gov, actor(by), params, now=now())
    return str(run.id)


def answer(w, run_id, approver, role, decision="approve", code=None, notes=""):
    """Resume the suspended run like `governance approve` and return what the flow recorded."""
    wait_suspended(run_id)
    return promotion_runs.resume_with_decision(
        w.gov,
        run_id,
        approver=approver,
        role=role,
        decision=decision,
        notes=notes,
        code=w.codes.code(approver.strip().lower()) if code is None else code,
    )


def test_happy_path_promotes_with_verified_approvals(world):
    w = world
    run_id = start(w)
    first = answer(w, run_id, "carol", "ml_lead", notes="metrics fine")
    assert first.accepted and first.request.status == RequestStatus.open
    second = answer(w, run_id, "dave", "risk_officer")
    assert second.accepted and second.request.status == RequestStatus.approved
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.1.0"
    assert versions.resolve(w.gov, f"{w.churn}@1.0.0").stage == LifecycleStage.deprecated
    decided = events(w, "approval.decided")
    assert [(e.actor, e.details["role"], e.details["verified"]) for e in decided] == [
        ("carol", "ml_lead", True),
        ("dave", "risk_officer", True),
    ]
    assert decided[0].details["notes"] == "metrics fine"
    [requested] = events(w, "approval.requested")
    assert requested.actor == "alice" and requested.details["requester_verified"] is True
    assert requested.details["flow_run_id"] == run_id
    assert requested.details["evidence"]["incumbent_version"] == "1.0.0"
    assert audit.verify(w.gov).state_rows > 0


def test_a_run_started_without_a_request_token_ends_precondition_failed(world):
    w = world
    run = run_deployment(
        "promote-model/promote-model",
        timeout=0,
        parameters={"model": w.churn, "version": "1.1.0", "dataset": "holdout"},
    )
    state = wait_final(run.id)
    assert state.name == "PreconditionFailed"
    reason = (
        "requester not verified: the run carries no request token "
        "(start it with `governance promote`)"
    )
    assert state.message == reason
    [refused] = events(w, "promotion.refused")
    assert refused.details["reason"] == reason
    assert approval_requests.pending_requests(w.gov) == [] or all(
        r.model_name != w.churn for r in approval_requests.pending_requests(w.gov)
    )


def test_refusals_are_recorded_and_the_run_asks_again(world):
    w = world
    run_id = start(w, by="frank")
    refused = [
        answer(w, run_id, "frank", "ml_lead"),  # the requester himself
        answer(w, run_id, "Frank ", "risk_officer"),  # a name variant of the requester
        answer(w, run_id, "carol", "ml_lead", code="000000"),  # a wrong code
        answer(w, run_id, "mallory", "ml_lead", code="123456"),  # not in the roster
    ]
    assert [r.accepted for r in refused] == [False] * 4
    attempts = approval_requests.refused_attempts(w.gov, refused[0].request.id)
    assert [(a.approver, a.error) for a in attempts] == [
        ("frank", SeparationOfDuties.__name__),
        ("Frank ", SeparationOfDuties.__name__),
        ("carol", InvalidCode.__name__),
        ("mallory", NotInRoster.__name__),
    ]
    assert attempts[0].reason == "frank cannot approve their own request"
    assert attempts[1].reason == "frank cannot approve their own request"
    assert attempts[2].reason == "one-time code for carol is wrong or expired"
    code = w.codes.code("carol")
    assert answer(w, run_id, "carol", "ml_lead", code=code).accepted
    reused = answer(w, run_id, "dave", "risk_officer", code=code)  # carol's code, not dave's
    assert not reused.accepted and reused.reason == "one-time code for dave is wrong or expired"
    assert answer(w, run_id, "dave", "risk_officer").accepted
    assert wait_final(run_id).name == "Promoted"
    assert len(events(w, "approval.refused")) == 5


def test_rejection_ends_rejected_and_changes_no_stage(world):
    w = world
    run_id = start(w)
    answer(w, run_id, "carol", "ml_lead", decision="reject", notes="fairness unclear")
    state = wait_final(run_id)
    assert state.name == "Rejected"
    assert state.message == f"{w.churn}@1.1.0 rejected by carol as ml_lead: fairness unclear"
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.0.0"
    assert versions.resolve(w.gov, f"{w.churn}@1.1.0").stage == LifecycleStage.staging


def test_gate_failure_ends_gate_failed_without_asking_anyone(world):
    w = world
    run_id = start(w, version="1.2.0")
    state = wait_final(run_id)
    assert state.name == "GateFailed"
    assert state.message == (
        "gate failed: 8 of 10 checks failed (threshold:accuracy, threshold:f1_weighted, "
        "threshold:auc_roc, regression:accuracy, regression:auc_roc, regression:f1_weighted, "
        "regression:precision, regression:recall)"
    )
    assert events(w, "approval.requested") == []


def test_high_risk_needs_legal_too(world):
    w = world
    run_id = start(w, model=w.triage)
    for approver, role in (("gina", "ml_lead"), ("hank", "risk_officer"), ("ivy", "legal")):
        assert answer(w, run_id, approver, role).accepted
    assert wait_final(run_id).name == "Promoted"
    assert versions.resolve(w.gov, f"{w.triage}@production").version == "1.1.0"


def test_a_second_promotion_is_refused_while_one_is_open(world):
    w = world
    first = start(w)
    wait_suspended(first)
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.model_name == w.churn]
    with pytest.raises(Exception) as refused:
        start(w, by="bob")
    assert type(refused.value).__name__ == "OpenRequestExists"
    assert str(refused.value) == (
        f"{w.churn}@1.1.0 already has an open promotion request {request.id} to production "
        f"(flow run {first}): approve, reject or let it expire first"
    )
    answer(w, first, "carol", "ml_lead", decision="reject")
    assert wait_final(first).name == "Rejected"


def test_an_overdue_request_expires_without_a_live_process(world):
    w = world
    run_id = start(w, approval_timeout_seconds=1)
    wait_suspended(run_id)
    time.sleep(1.2)
    expired = promotion_runs.expire_overdue(w.gov, now())
    assert [r.flow_run_id for r in expired if r.model_name == w.churn] == [run_id]
    state = wait_final(run_id)
    assert (state.name, state.message) == (
        "Expired",
        f"{w.churn}@1.1.0: approvals not given in time",
    )
    [event] = events(w, "approval.expired")
    assert event.details["missing_roles"] == {"ml_lead": 1, "risk_officer": 1}


def test_card_change_after_approval_voids_the_request(world, example_card):
    w = world
    run_id = start(w)
    answer(w, run_id, "carol", "ml_lead")
    revised = example_card.model_copy(
        update={"risk_level": RiskLevel.medium, "known_limitations": ["changed after approval"]}
    )
    cards.revise_card(w.gov, w.churn, "1.1.0", revised, actor="alice", now=now())
    answer(w, run_id, "dave", "risk_officer")
    state = wait_final(run_id)
    assert state.name == "Voided"
    assert state.message.startswith("approvals void: card_hash changed since approval")
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.0.0"
    [voided] = events(w, "approval.voided")
    assert voided.details["changed"] == ["card_hash"]


def test_a_policy_value_change_voids_the_approvals(world, policy_restored):
    w = world
    run_id = start(w)
    answer(w, run_id, "carol", "ml_lead")
    data = yaml.safe_load(policy_restored.read_text())
    data["approval_timeout_hours"] = 71
    policy_restored.write_text(yaml.safe_dump(data))
    answer(w, run_id, "dave", "risk_officer")
    state = wait_final(run_id)
    assert state.name == "Voided"
    assert state.message.startswith("approvals void: policy_version changed since approval")


def test_the_server_refuses_a_control_character_or_oversized_approver(world):
    w = world
    run_id = start(w)
    wait_suspended(run_id)
    for approver in ("car\x07ol", "c" * 129):
        with pytest.raises(RuntimeError) as refused:
            resume_flow_run(
                run_id,
                run_input={"approver": approver, "role": "ml_lead", "decision": "approve"},
            )
        assert str(refused.value).startswith("Cannot resume this run: Reason: ")
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.model_name == w.churn]
    assert approval_queue.answers(w.gov, request.id) == 0
    assert events(w, "approval.refused") == []
    answer(w, run_id, "carol", "ml_lead", decision="reject")
    assert wait_final(run_id).name == "Rejected"


def test_a_code_typed_in_a_role_the_person_lacks_is_spent_and_leaves_no_trace(world):
    w = world
    run_id = start(w)
    key = wait_suspended(run_id)
    code = w.codes.code("carol")
    # carol is an ml_lead; she answers as risk officer, which she is not.
    refused = answer(w, run_id, "carol", "risk_officer", code=code)
    assert not refused.accepted
    assert refused.reason == "carol does not hold the role risk_officer"
    wait_suspended(run_id, after_answers=1)  # the flow has recorded it and asks again
    with pytest.raises(InvalidCode) as spent:
        identity.login(w.gov, "carol", code, now=now())
    assert str(spent.value) == "one-time code for carol was already used"
    with get_client(sync_client=True) as client:
        left = client.filter_flow_run_input(run_id, f"suspended-{key}", 10, set())
        with pytest.raises(httpx.HTTPStatusError) as gone:
            client.read_flow_run_input(run_id, answer_key(key))
    assert gone.value.response.status_code == 404
    # What stays is the form (its description and schema), never the answer.
    assert sorted(i.key for i in left) == [
        f"suspended-{key}-description",
        f"suspended-{key}-schema",
    ]
    answer(w, run_id, "carol", "ml_lead", decision="reject")
    assert wait_final(run_id).name == "Rejected"


def test_parameters_changed_through_the_api_while_suspended_void_the_run(
    world, trained, example_card
):
    w = world
    card = example_card.model_copy(update={"risk_level": RiskLevel.medium})
    spec = VersionSpec(name=w.churn, version="1.3.0", created_by="alice")
    versions.register_version(w.gov, spec, card, artifact=trained["good0.5"], now=now())
    endpoints.create(w.gov, f"{w.churn}-api", model=w.churn, actor=actor("alice"), now=now())
    run_id = start(w, version="1.3.0", target="staging")  # a development version to staging
    wait_suspended(run_id)
    with get_client(sync_client=True) as client:
        submitted = client.read_flow_run(run_id).parameters
        # What someone with Prefect API access did: a canary of development code.
        client.update_flow_run(run_id, parameters={**submitted, "strategy": "canary"})
    code = w.codes.code("jack")
    resume_flow_run(run_id, run_input={"approver": "jack", "role": "ml_engineer",
                                       "decision": "approve", "code": code})  # fmt: skip
    state = wait_final(run_id)
    assert (state.name, state.message) == (
        "Voided",
        "approvals void: the run's parameter strategy changed since it was submitted "
        "(strategy was 'direct', now 'canary')",
    )
    [request] = [r for r in events(w, "approval.cancelled") if r.version == "1.3.0"]
    assert request.details["reason"].startswith("Voided: approvals void: the run's parameter")
    assert versions.resolve(w.gov, f"{w.churn}@1.3.0").stage == LifecycleStage.development
    served = endpoints.show(w.gov, f"{w.churn}-api").spec
    assert (served.number, served.spec.stable, served.spec.canary) == (1, "1.0.0", None)
    assert events(w, "approval.decided") == []
    # The answer it never recorded is gone from the run input, and its code is spent.
    with get_client(sync_client=True) as client:
        left = client.filter_flow_run_input(run_id, "suspended-", 10, set())
    assert not [i.key for i in left if i.key.endswith("-response")]
    with pytest.raises(InvalidCode, match="one-time code for jack was already used"):
        identity.login(w.gov, "jack", code, now=now())
