"""Issue 16 item 15: approvals bind the evaluation's contents, not only its id.

A database writer raises the stored accuracy of the evaluation an approved request stands
on. Before the fix the approvals stood and `audit verify` did not replay `model.evaluated`.
On real SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from seeding import approved_request

from governance.domain.approvals import RequestStatus
from governance.domain.errors import EvidenceChanged, StateMismatch
from governance.services.promotion import approval_requests, completion
from governance.services.registry import versions
from governance.services.trust import audit
from governance.store.evaluation import contents_digest
from governance.store.tables_promotion import evaluation_runs


@pytest.fixture
def approved(gov, staged_run, codes, now):
    """churn 1.1.0's production request, approved on the passed evaluation `staged_run`."""
    return approved_request(gov, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)


def edit_metrics(gov, run_id: str, **metrics: float) -> None:
    """An UPDATE of the stored evaluation's metrics, as a writer without the key can do."""
    with gov.engine.begin() as conn:
        result = conn.execute(
            sa.select(evaluation_runs.c.result).where(evaluation_runs.c.id == run_id)
        ).scalar_one()
        result = {**result, "metrics": {**result["metrics"], **metrics}}
        conn.execute(
            evaluation_runs.update().where(evaluation_runs.c.id == run_id).values(result=result)
        )


def test_the_evaluated_event_and_the_evidence_bind_the_contents(gov, staged_run, approved):
    (event,) = audit.history(gov, event_type="model.evaluated")
    assert event.details["contents_digest"] == contents_digest(staged_run)
    assert approved.evidence["evaluation_run_id"] == staged_run.id
    assert approved.evidence["evaluation_digest"] == contents_digest(staged_run)
    (requested,) = audit.history(gov, event_type="approval.requested")
    assert requested.details["evidence"]["evaluation_digest"] == contents_digest(staged_run)
    assert audit.verify(gov).state_rows


def test_audit_verify_names_an_edited_evaluation(gov, staged_run):
    recorded = contents_digest(staged_run)
    edit_metrics(gov, staged_run.id, accuracy=0.999)
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    edited = re.search(r"digest to (\w+) but", str(found.value)).group(1)
    assert str(found.value) == (
        f"evaluation_runs {staged_run.id}: its contents (metrics, dataset, gate decision)"
        f" digest to {edited} but model.evaluated recorded {recorded[:16]}:"
        " the stored evaluation was edited"
    )
    assert not recorded.startswith(edited)


def test_editing_the_metrics_voids_the_approvals_standing_on_them(gov, staged_run, approved, now):
    edit_metrics(gov, staged_run.id, accuracy=0.999)
    with pytest.raises(EvidenceChanged) as voided:
        completion.complete_promotion(gov, request_id=approved.id, actor="bob", now=now)
    assert str(voided.value).startswith(
        f"approvals void: evaluation_digest (evaluation {staged_run.id}) changed since approval"
    )
    assert approval_requests.get_request(gov, approved.id).status == RequestStatus.void
    assert versions.resolve(gov, "churn@production").version == "1.0.0"
    (event,) = audit.history(gov, event_type="approval.voided")
    assert event.details["changed"] == ["evaluation_digest"]
    assert event.details["approved_evidence"]["evaluation_digest"] == contents_digest(staged_run)
