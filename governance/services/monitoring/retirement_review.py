"""Retirement reviews: a `retire` verdict asks the policy's roles, through the same approval
requests as promotions, whether the version should go.

Approved: the version is deprecated with a sunset (rollback stays possible until then) and
leaves every endpoint's routing in favour of its successor. Rejected: the reason is recorded
and the audit retains the version until the next review date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain import evidence
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.domain.cards import ModelCard
from governance.domain.errors import Conflict, EvidenceChanged, InvalidInput, NotFound
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelVersion, payload_digest, sunset_after
from governance.domain.monitoring import AuditRow
from governance.domain.run_parameters import parameters_digest
from governance.services.monitoring.retirement_audit import retention_period
from governance.services.promotion.approval_requests import record_request
from governance.services.promotion.completion import approved_request, void_in
from governance.services.promotion.evidence import evaluation_digest_in
from governance.services.registry.cards import stored_card_hash
from governance.services.rollout.production import _transition_in
from governance.services.rollout.withdrawal import successor_in, withdraw_in
from governance.services.trust.request_events import audit_request_event
from governance.store.unit_of_work import Transaction

# The nightly audit asks for the review itself: no person and no code stands behind the
# request, so it says so (`verified` is False) and the roster's approvals decide.
REQUESTER = VerifiedActor(name="retirement-audit", method="system")
TARGET = LifecycleStage.deprecated
NONE = "none"


def open_review(
    gov: Governance,
    *,
    model: str,
    version: str,
    audit_id: str,
    flow_run_id: str,
    now: datetime,
    run_parameters: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Open (or find again, for a re-executed run) the retirement review of one verdict.

    `run_parameters` (the review run's) are kept with the request and their digest bound.
    """
    with gov.store.write() as tx:
        mine = tx.approvals.for_flow_run(flow_run_id)
        if mine is not None:
            return mine.request
        found = tx.registry.get_version(model, version)
        audit = _retire_verdict(tx, found, audit_id)
        other = tx.approvals.open_for(found.id, TARGET.value, "retirement")
        if other is not None:
            raise Conflict(f"{found.ref} already has an open retirement review: {other.id}")
        registered = tx.registry.get_model(model)
        return record_request(
            tx,
            gov.policy,
            found=found,
            risk=registered.risk_level,
            card=tx.cards.latest(found.id),
            requester=REQUESTER,
            target=TARGET,
            evaluation_run_id=audit.id,
            incumbent=audit.successor or NONE,
            now=now,
            kind="retirement",
            flow_run_id=flow_run_id,
            run_parameters=run_parameters,
            verdict_reason=audit.reason,
        )


def _retire_verdict(tx: Transaction, found: ModelVersion, audit_id: str) -> AuditRow:
    rows = [r for r in tx.monitoring.latest_audits(found.model_name) if r.id == audit_id]
    if not rows or (rows[0].model_name, rows[0].version) != (found.model_name, found.version):
        raise InvalidInput(f"audit result {audit_id} is not the latest audit of {found.ref}")
    if rows[0].verdict != "retire":
        raise InvalidInput(f"{found.ref}: the audit's verdict is {rows[0].verdict}, not retire")
    return rows[0]


def evidence_now(tx: Transaction, gov: Governance, request: ApprovalRequest) -> dict[str, str]:
    """The review's evidence as it stands now: a new card, successor or policy voids it."""
    found = tx.registry.get_version(request.model_name, request.version)
    parts = {
        "artifact_digest": payload_digest(found),
        "card_hash": stored_card_hash(tx.cards.latest(found.id)),
        "evaluation_run_id": request.evidence["evaluation_run_id"],
        "evaluation_digest": evaluation_digest_in(tx, request.evidence["evaluation_run_id"]),
        "incumbent_version": successor_in(tx, found) or NONE,
        "policy_version": gov.policy.version,
        "target_stage": TARGET.value,
    }
    if request.run_parameters is not None:
        parts[evidence.PARAMETERS_FIELD] = parameters_digest(request.run_parameters)
    return parts


def carry_out(gov: Governance, *, request_id: str, now: datetime) -> ModelVersion:
    """Deprecate an approved review's version and take it out of routing, in one transaction."""
    voided: EvidenceChanged | None = None
    with gov.store.write() as tx:
        request = approved_request(tx.approvals.get(request_id))
        current = evidence_now(tx, gov, request)
        try:
            rules.check_evidence(request, evidence.evidence_digest(**current), current)
        except EvidenceChanged as exc:
            voided = exc
            void_in(tx, request, current, REQUESTER.name, now, str(exc))
        else:
            return _deprecate(gov, tx, request, now)
    raise voided


def _deprecate(
    gov: Governance, tx: Transaction, request: ApprovalRequest, now: datetime
) -> ModelVersion:
    found = tx.registry.get_version(request.model_name, request.version)
    why = f"retirement review {request.id} approved"
    if found.stage == TARGET:
        # Already deprecated (archived by a promotion) but still serving a flag or an arm:
        # the review starts a grace period from now, and the stage change says so.
        sunset = sunset_after(now, gov.policy.retirement.sunset_days)
        tx.registry.set_stage(found.id, TARGET, now, sunset)
        tx.audit.append(
            "model.stage_changed",
            actor=REQUESTER.name,
            now=now,
            model=found.model_name,
            version=found.version,
            details={
                "from": found.stage.value,
                "to": TARGET.value,
                "reason": why,
                "sunset_at": sunset.isoformat(),
            },
        )
        done = found.model_copy(update={"stage": TARGET, "sunset_at": sunset})
    else:
        # production -> deprecated; a staging version (serving a flag) cannot be deprecated,
        # and with nothing to roll back to it goes straight to retired.
        target = TARGET if found.stage == LifecycleStage.production else LifecycleStage.retired
        done = _transition_in(
            tx,
            found.model_name,
            found.version,
            target,
            actor=REQUESTER.name,
            now=now,
            reason=why,
            sunset_days=gov.policy.retirement.sunset_days,
        )
    withdraw_in(tx, found, actor=REQUESTER.name, reason="retirement approved", now=now)
    tx.approvals.mark_completed(request.id, now)
    audit_request_event(
        tx,
        "model.retirement_approved",
        request,
        REQUESTER.name,
        now,
        approvers=[
            {"approver": a.approver, "role": a.role} for a in rules.active_approvals(request)
        ],
        sunset_at=done.sunset_at.isoformat() if done.sunset_at else None,
    )
    return done


def reviews(gov: Governance, status: RequestStatus = RequestStatus.open) -> list[ApprovalRequest]:
    """Retirement reviews in a status, oldest first."""
    with gov.store.read() as tx:
        return tx.approvals.with_status_kind(status.value, "retirement")


def revalidations(gov: Governance) -> list[tuple[AuditRow, str]]:
    """Each version whose latest audit verdict is re-validate, with its model's owner."""
    with gov.store.read() as tx:
        owners = {m.name: m.owner for m in tx.registry.list_models()}
        rows = [r for r in tx.monitoring.latest_audits() if r.verdict == "re-validate"]
    return [(row, owners.get(row.model_name, "")) for row in rows]


def audit_for(gov: Governance, request: ApprovalRequest) -> AuditRow:
    """The audit result a review was opened on (its evidence names it)."""
    audit_id = request.evidence["evaluation_run_id"]
    with gov.store.read() as tx:
        row = tx.monitoring.audit_by_id(audit_id)
    if row is None:
        raise InvalidInput(f"retirement review {request.id} names unknown audit result {audit_id}")
    return row


def latest_findings(
    gov: Governance, model: str | None = None, version: str | None = None
) -> list[AuditRow]:
    """Each version's latest audit result (of one model, or one version), by model and version."""
    with gov.store.read() as tx:
        if model is not None:
            tx.registry.get_model(model)
        rows = tx.monitoring.latest_audits(model)
    return [r for r in rows if version is None or r.version == version]


def drift_report(gov: Governance, model: str, version: str) -> tuple[AuditRow, bytes]:
    """The version's latest audit and its Evidently report, checked against its digest."""
    rows = latest_findings(gov, model, version)
    if not rows:
        with gov.store.read() as tx:
            tx.registry.get_version(model, version)
        raise NotFound(f"{model}@{version} has not been audited yet")
    if not rows[0].report_digest:
        raise NotFound(
            f"{model}@{version} has no drift report: its latest audit "
            f"({rows[0].checked_at:%Y-%m-%d %H:%M}) found no drift"
        )
    return rows[0], gov.artifacts.read_verified(rows[0].report_digest)


def open_reviews_by_version(gov: Governance) -> set[tuple[str, str]]:
    """(model, version) of every retirement review still open."""
    return {(r.model_name, r.version) for r in reviews(gov)}


def retention_days(gov: Governance, model: str, version: str) -> int:
    """How long a rejected review keeps the version: until its card's next review is due."""
    with gov.store.read() as tx:
        found = tx.registry.get_version(model, version)
        revision = tx.cards.latest(found.id)
    card = revision.card if revision else ModelCard()
    return retention_period(card, gov.policy.retirement.review_days)
