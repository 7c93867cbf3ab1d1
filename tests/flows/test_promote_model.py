"""promote-model against a real Prefect server: gate, pauses per role, named terminal states."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from governance.domain.approvals import RequestStatus
from governance.domain.models import LifecycleStage
from governance.services import approvals, audit, registry

pytestmark = pytest.mark.sqlite_only


def events(gov, event_type):
    """Audit events of one type."""
    return audit.history(gov, event_type=event_type)


def params(model="churn", version="1.1.0", **extra):
    """Flow parameters with the test defaults."""
    return {
        "model": model,
        "version": version,
        "dataset": "holdout",
        "requested_by": "alice",
        "target": "production",
        **extra,
    }


def test_happy_path_promotes_after_both_roles(world, runner):
    runner.start(**params())
    first = runner.resume("carol", "ml_lead", notes="metrics fine")
    second = runner.resume("dave", "risk_officer")
    state = runner.finish()
    assert state.name == "Promoted" and state.is_completed()
    assert first != second and first.startswith("approval-")
    assert registry.resolve(world, "churn@production").version == "1.1.0"
    assert registry.resolve(world, "churn@1.0.0").stage == LifecycleStage.deprecated
    decided = events(world, "approval.decided")
    assert [(e.actor, e.details["role"]) for e in decided] == [
        ("carol", "ml_lead"),
        ("dave", "risk_officer"),
    ]
    assert decided[0].details["notes"] == "metrics fine"
    assert decided[0].details["evidence_digest"] == decided[1].details["evidence_digest"]
    assert audit.verify_chain(world).ok


def test_rejection_ends_rejected_and_changes_no_stage(world, runner):
    runner.start(**params())
    runner.resume("carol", "ml_lead", decision="reject", notes="fairness unclear")
    state = runner.finish()
    assert state.name == "Rejected" and state.is_failed()
    assert "carol as ml_lead: fairness unclear" in state.message
    assert registry.resolve(world, "churn@production").version == "1.0.0"
    assert registry.resolve(world, "churn@1.1.0").stage == LifecycleStage.staging


def test_self_approval_is_refused_recorded_and_the_run_pauses_again(world, runner):
    runner.start(**params())
    refused_key = runner.resume("alice", "ml_engineer")
    runner.resume("carol", "ml_lead")
    runner.resume("dave", "risk_officer")
    assert runner.finish().name == "Promoted"
    refusals = events(world, "approval.refused")
    assert len(refusals) == 1 and refusals[0].actor == "alice"
    assert "alice" in refusals[0].details["reason"]
    assert refused_key.endswith("-1")


def test_timeout_ends_expired(world, runner):
    runner.start(**params(approval_timeout_seconds=2))
    state = runner.finish()
    assert state.name == "Expired" and state.is_failed()
    assert approvals.pending_requests(world) == []
    expired = events(world, "approval.expired")
    assert len(expired) == 1 and expired[0].version == "1.1.0"
    assert registry.resolve(world, "churn@production").version == "1.0.0"


def test_gate_failure_stops_before_any_pause(world, runner):
    state = runner.start(**params(version="1.2.0")).finish()
    assert state.name == "GateFailed" and state.is_failed()
    assert "accuracy" in state.message
    assert events(world, "approval.requested") == []
    [evaluated] = events(world, "model.evaluated")
    assert evaluated.details["passed"] is False


def test_high_risk_production_needs_legal(world, runner):
    registry.transition(
        world,
        "triage",
        "1.0.0",
        LifecycleStage.production,
        actor="bob",
        now=registry.resolve(world, "triage@1.0.0").created_at,
    )
    runner.start(**params(model="triage"))
    runner.resume("carol", "ml_lead")
    runner.resume("dave", "risk_officer")
    _, key = runner.paused()
    assert "-legal-" in key
    runner.resume("erin", "legal")
    assert runner.finish().name == "Promoted"
    roles = {e.details["role"] for e in events(world, "approval.decided")}
    assert roles == {"ml_lead", "risk_officer", "legal"}


def test_card_changed_after_approval_voids_the_promotion(world, runner, example_card, monkeypatch):
    runner.start(**params())
    runner.resume("carol", "ml_lead")
    # The card moves while the last approver is reading it.
    edited = example_card.model_copy(update={"known_limitations": ["found a new limitation"]})
    registry.revise_card(
        world,
        "churn",
        "1.1.0",
        edited,
        actor="alice",
        now=registry.resolve(world, "churn@1.1.0").created_at,
    )
    runner.resume("dave", "risk_officer")
    state = runner.finish()
    assert state.name == "Voided" and "card_hash" in state.message
    assert registry.resolve(world, "churn@production").version == "1.0.0"
    [voided] = events(world, "approval.voided")
    assert "card_hash" in str(voided.details)


def test_policy_changed_after_approval_voids_the_promotion(world, runner):
    policy_file = Path(world.settings.resolved_policy_file)
    runner.start(**params())
    runner.resume("carol", "ml_lead")
    policy = yaml.safe_load(policy_file.read_text())
    policy["approval_timeout_hours"] = 48
    policy_file.write_text(yaml.safe_dump(policy))
    runner.resume("dave", "risk_officer")
    state = runner.finish()
    assert state.name == "Voided" and "policy_version" in state.message
    assert registry.resolve(world, "churn@production").version == "1.0.0"
    [voided] = events(world, "approval.voided")
    request = approvals.get_request(world, voided.details.get("request_id", ""))
    assert request.status == RequestStatus.void
