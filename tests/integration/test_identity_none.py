"""`identity: none`: throwaway local use, said out loud on every form and every audit event."""

from __future__ import annotations

from pathlib import Path

import yaml
from seeding import seed_stage

from governance.config import EXAMPLE_POLICY
from governance.domain.identity import NOT_VERIFIED, VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.reports.approval_form import approval_form_markdown
from governance.services.promotion import approval_requests, decisions, evaluation
from governance.services.registry import versions
from governance.services.trust import audit


def test_every_event_form_and_decision_says_identities_are_not_verified(
    gov, staged_run, now, tmp_path: Path
):
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy["identity"] = "none"
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(policy))
    gov.settings.policy_file = path
    gov.reload_policy()
    already = len(audit.history(gov))
    run = evaluation.evaluate(
        gov, model="churn", version="1.1.0", dataset="holdout", actor="alice", now=now
    )
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=S.production,
        requester=VerifiedActor(name="alice", method="none"),
        evaluation_run_id=run.id,
        now=now,
    )
    assert request.identity == "none"
    decided = decisions.decide(
        gov, request_id=request.id, approver="Carol", role="ml_lead", decision="approve", now=now
    )
    assert [(a.approver, a.verified) for a in decided.approvals] == [("carol", False)]
    seed_stage(gov, "churn", "1.2.0", S.staging, now=now)

    events = audit.history(gov)[already:]
    assert [e.event_type for e in events] == [
        "policy.loaded",  # the first write under the edited policy records it
        "model.evaluated",
        "approval.requested",
        "approval.decided",
        "model.stage_changed",
    ]
    assert {e.details["identity"] for e in events} == {NOT_VERIFIED}
    assert audit.verify_chain(gov).ok
    view = versions.show(gov, "churn@1.1.0")
    form = approval_form_markdown(decided, view.model, view.card.card, run.decision, run.result)
    assert "> **Identities not verified** (policy `identity: none`): throwaway use only." in form
    assert "| Requested by | alice (not verified) |" in form
