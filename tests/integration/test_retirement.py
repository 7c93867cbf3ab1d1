"""The retirement audit and its reviews through the services, on a real database.

The verdicts: re-validate for a drifting production version with no successor, retire for a
deprecated version still serving a flag, retain once a review was rejected; an approved
review deprecates and withdraws the version, and retire-deprecated takes it out of routing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from monitorkit import batch_frame
from seeding import approved_request, seed_move_in

from governance.domain.approvals import RequestStatus
from governance.domain.errors import EvidenceChanged
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule
from governance.domain.run_parameters import parameters_digest
from governance.services.monitoring import batches, references, retirement_audit, retirement_review
from governance.services.promotion import (
    approval_queue,
    approval_requests,
    completion,
    decisions,
    evaluation,
)
from governance.services.registry import versions
from governance.services.rollout import endpoints, routing, withdrawal
from governance.services.trust import audit
from governance.store.tables_promotion import approval_requests as approval_requests_table

pytestmark = pytest.mark.sqlite_only
RETIREMENT_APPROVERS = (("carol", "ml_lead"), ("dave", "risk_officer"))


def ingest(w, version, tmp_path, now, *, shift=12, flip=0.4, rows=300):
    """A labelled batch for `version`: `shift` features moved, a share of labels wrong."""
    path = tmp_path / f"batch-{version}-{shift}-{flip}.csv"
    batch_frame(w.frame, rows=rows, labels=True, shift=shift, flip=flip).to_csv(path, index=False)
    return batches.ingest(
        w.gov, model="churn", version=version, path=path, labels="label", actor="bob", now=now
    )


def findings(row):
    return {f["check"]: f for f in row.findings}


def test_a_drifting_production_version_without_successor_is_revalidated(
    monitored_world, now, tmp_path
):
    w = monitored_world
    ingest(w, "1.0.0", tmp_path, now)
    row, report = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r1", now=now)
    found = findings(row)
    assert (row.verdict, row.successor) == ("re-validate", None)
    assert "drift" in row.reason and "no successor" in row.reason
    assert found["drift"]["status"] == "breached"
    assert found["drift"]["figures"]["share"] == pytest.approx(12 / 30)
    assert found["accuracy"]["status"] == "breached"
    assert found["accuracy"]["figures"]["value"] < 0.8
    assert {found[c]["status"] for c in ("age", "stale_card", "no_traffic", "break_glass")} == {
        "ok"
    }
    assert report is not None and b"mean radius" in report
    assert w.gov.artifacts.read_verified(row.report_digest) == report
    again, second = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r1", now=now)
    assert (again.id, second) == (row.id, None)  # recorded once per audit run
    [event] = audit.history(w.gov, event_type="retirement.checked", model="churn")
    assert (event.version, event.details["verdict"], event.details["audit_id"]) == (
        "1.0.0",
        "re-validate",
        row.id,
    )
    assert [(r.id, owner) for r, owner in retirement_review.revalidations(w.gov)] == [
        (row.id, "alice")
    ]


def test_too_few_labels_is_insufficient_not_a_number(monitored_world, now, tmp_path):
    w = monitored_world
    ingest(w, "1.0.0", tmp_path, now, shift=0, flip=0.0, rows=120)
    path = tmp_path / "few.csv"
    batch_frame(w.frame, rows=20).to_csv(path, index=False)
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r1", now=now)
    assert findings(row)["accuracy"]["status"] == "ok"
    later = now + timedelta(days=31)
    batches.ingest(w.gov, model="churn", version="1.0.0", path=path, actor="bob", now=later)
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r2", now=later)
    accuracy = findings(row)["accuracy"]
    assert (accuracy["status"], accuracy["figures"].get("value")) == ("insufficient", None)
    assert accuracy["message"].startswith("insufficient labels: 0 of 50 needed")
    assert row.verdict == "re-validate"


def test_a_check_that_raises_is_a_finding_and_the_others_still_run(monitored_world, now, tmp_path):
    w = monitored_world
    ingest(w, "1.0.0", tmp_path, now)
    _, profile = references.get_reference(w.gov, "churn", "1.0.0")
    w.gov.artifacts.path_for(profile.digest).write_bytes(b"not the sample")
    row, report = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r1", now=now)
    drift = findings(row)["drift"]
    assert drift["status"] == "error"
    assert "DigestMismatch" in drift["message"] and profile.digest in drift["message"]
    assert findings(row)["accuracy"]["status"] == "breached"
    assert (row.verdict, report) == ("re-validate", None)


@pytest.fixture
def flagged_old_version(monitored_world, codes, now, tmp_path):
    """1.1.0 promoted to production (1.0.0 archived), 1.0.0 still serving org acme by a flag."""
    w = monitored_world
    run = evaluation.evaluate(
        w.gov, model="churn", version="1.1.0", dataset="holdout", actor="alice", now=now
    )
    request = approved_request(w.gov, codes, now, version="1.1.0", evaluation_run_id=run.id)
    completion.complete_promotion(w.gov, request_id=request.id, actor="alice", now=now)
    with w.gov.store.write() as tx:
        # test set-up: the flag service allows only versions carried through a promotion
        routing.change_in(
            tx,
            "churn-api",
            lambda s: routing.updated(
                s, flags=[FlagRule(name="acme-old", version="1.0.0", org_ids=["acme"])]
            ),
            actor="alice",
            reason="set-up",
            now=now,
        )
    ingest(w, "1.0.0", tmp_path, now)
    return w


def review(gov, now, audit_run="r1"):
    """Audit churn@1.0.0 and open its retirement review (as the review flow does)."""
    row, _ = retirement_audit.audit_version(gov, "churn", "1.0.0", audit_run=audit_run, now=now)
    assert (row.verdict, row.successor) == ("retire", "1.1.0"), row.reason
    request = retirement_review.open_review(
        gov, model="churn", version="1.0.0", audit_id=row.id, flow_run_id=audit_run, now=now
    )
    return row, request


def test_an_approved_review_deprecates_withdraws_and_the_sweep_retires(
    flagged_old_version, codes, now
):
    w = flagged_old_version
    assert retirement_audit.audit_targets(w.gov) == {"churn": ["1.0.0", "1.1.0"]}
    row, request = review(w.gov, now)
    assert (request.kind, request.target_stage, dict(request.required)) == (
        "retirement",
        S.deprecated,
        {"ml_lead": 1, "risk_officer": 1},
    )
    assert request.evidence["evaluation_run_id"] == row.id
    assert request.evidence["incumbent_version"] == "1.1.0"
    when = now + timedelta(minutes=1)  # the promotion's approvers used their codes at `now`
    for person, role in RETIREMENT_APPROVERS:
        decisions.decide(
            w.gov,
            request_id=request.id,
            approver=person,
            role=role,
            decision="approve",
            code=codes(person, when),
            now=when,
        )
    later = now + timedelta(hours=1)
    done = retirement_review.carry_out(w.gov, request_id=request.id, now=later)
    assert (done.stage, done.sunset_at) == (S.deprecated, later + timedelta(days=30))
    assert endpoints.show(w.gov, "churn-api").spec.spec.flags == []
    [approved] = audit.history(w.gov, event_type="model.retirement_approved", model="churn")
    assert [a["approver"] for a in approved.details["approvers"]] == ["carol", "dave"]
    assert audit.verify(w.gov).chain.ok
    assert withdrawal.retire_past_sunset(w.gov, now=later, as_of=later + timedelta(days=29)) == []
    as_of = later + timedelta(days=30)
    retired = withdrawal.retire_past_sunset(w.gov, now=later, as_of=as_of)
    assert [v.ref for v in retired] == ["churn@1.0.0"]
    assert versions.resolve(w.gov, "churn@1.0.0").stage == S.retired
    [event] = audit.history(w.gov, event_type="model.stage_changed", model="churn")[-1:]
    # the rule read the simulated clock; the trail records when it really happened
    assert (datetime.fromisoformat(event.ts), event.details["as_of"]) == (later, as_of.isoformat())


def test_a_rejected_review_retains_the_version_until_its_next_review(
    flagged_old_version, codes, now
):
    w = flagged_old_version
    _, request = review(w.gov, now)
    decisions.decide(
        w.gov,
        request_id=request.id,
        approver="carol",
        role="ml_lead",
        decision="reject",
        notes="acme's contract needs it until March",
        code=codes("carol", now + timedelta(minutes=1)),
        now=now + timedelta(minutes=1),
    )
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.rejected
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r2", now=now)
    assert row.verdict == "retain"
    assert "acme's contract needs it until March" in row.reason
    assert "2027-02-22" in row.reason  # the card's next (quarterly: 91-day) review
    later = now + timedelta(days=92)
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r3", now=later)
    assert row.verdict != "retain"


def test_retirement_takes_a_version_out_of_idle_slots_and_flags(monitored_world, now):
    w = monitored_world
    seed_production = versions.resolve(w.gov, "churn@1.1.0")
    with w.gov.store.write() as tx:
        seed_move_in(tx, "churn", seed_production.version, S.production, actor="t", now=now)
        routing.change_in(
            tx,
            "churn-api",
            lambda s: routing.updated(
                s,
                slots={"blue": "1.0.0", "green": "1.1.0"},
                active_slot="green",
                flags=[FlagRule(name="old", version="1.0.0", user_ids=["u1"])],
            ),
            actor="t",
            reason="set-up",
            now=now,
        )
    withdrawal.retire_past_sunset(w.gov, now=now + timedelta(days=31))
    spec = endpoints.show(w.gov, "churn-api").spec.spec
    assert (spec.stable, spec.slots, spec.active_slot, spec.flags) == (
        "1.1.0",
        {"blue": None, "green": "1.1.0"},
        "green",
        [],
    )
    [change] = audit.history(w.gov, event_type="routing.changed", model="churn")[-1:]
    assert change.details["reason"] == "churn@1.0.0 retired: sunset passed"


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        (
            "UPDATE retirement_audits SET verdict = 'retain'",
            "retirement_audits {id}: it says churn@1.0.0 retain ",
        ),
        (
            "UPDATE retirement_audits SET findings = '[]'",
            "retirement_audits {id}: it says churn@1.0.0 re-validate ",
        ),
        (
            "UPDATE reference_profiles SET digest = '" + "0" * 64 + "'",
            "reference_profiles churn@1.0.0: digest is " + "0" * 64,
        ),
    ],
)
def test_an_edited_verdict_or_reference_is_named_by_audit_verify(
    monitored_world, now, tmp_path, statement, words
):
    from governance.domain.errors import StateMismatch

    w = monitored_world
    ingest(w, "1.0.0", tmp_path, now)
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r1", now=now)
    assert audit.verify(w.gov).chain.ok
    with w.gov.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with pytest.raises(StateMismatch) as info:
        audit.verify(w.gov)
    assert words.format(id=row.id) in str(info.value)


def test_an_unanswered_retirement_review_expires_with_no_process(flagged_old_version, now):
    w = flagged_old_version
    _, request = review(w.gov, now)
    stage = versions.resolve(w.gov, "churn@1.0.0").stage
    assert approval_queue.expire_overdue(w.gov, request.expires_at - timedelta(seconds=1)) == []
    [expired] = approval_queue.expire_overdue(w.gov, request.expires_at)
    assert (expired.id, expired.kind, expired.status) == (
        request.id,
        "retirement",
        RequestStatus.expired,
    )
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.expired
    [event] = audit.history(w.gov, event_type="approval.expired", model="churn")
    assert (event.actor, event.details["missing_roles"]) == (
        "system",
        {"ml_lead": 1, "risk_officer": 1},
    )
    assert versions.resolve(w.gov, "churn@1.0.0").stage == stage  # nothing was deprecated


def test_a_review_binds_its_run_parameters_and_an_edit_of_them_voids_it(
    flagged_old_version, codes, now
):
    w = flagged_old_version
    row, _ = retirement_audit.audit_version(w.gov, "churn", "1.0.0", audit_run="r2", now=now)
    asked = {"model": "churn", "version": "1.0.0", "audit_id": row.id}
    request = retirement_review.open_review(
        w.gov, **asked, flow_run_id="r2", now=now, run_parameters=asked
    )
    assert request.evidence["parameters_digest"] == parameters_digest(asked)
    when = now + timedelta(minutes=1)
    for person, role in RETIREMENT_APPROVERS:
        decisions.decide(w.gov, request_id=request.id, approver=person, role=role,
                         decision="approve", code=codes(person, when), now=when)  # fmt: skip
    with w.gov.engine.begin() as conn:  # a database writer re-points what was approved
        conn.execute(
            approval_requests_table.update()
            .where(approval_requests_table.c.id == request.id)
            .values(run_parameters={**asked, "version": "1.1.0"})
        )
    with pytest.raises(EvidenceChanged) as voided:
        retirement_review.carry_out(w.gov, request_id=request.id, now=when)
    assert str(voided.value).startswith("approvals void: parameters_digest changed since approval")
    assert approval_requests.get_request(w.gov, request.id).status == RequestStatus.void
    assert audit.history(w.gov, event_type="model.retirement_approved", model="churn") == []
