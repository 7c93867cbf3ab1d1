"""Repository for approval requests, their decisions, and refused attempts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.approvals import Approval, ApprovalRequest, RequestStatus
from governance.domain.errors import NotFound
from governance.store.tables_promotion import (
    approval_decisions,
    approval_refusals,
    approval_requests,
)

q, dc, rf = approval_requests.c, approval_decisions.c, approval_refusals.c


class RefusedAttempt(BaseModel):
    """A decision that was refused, kept with the reason so the refusal itself is on record."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    approver: str
    role: str
    decision: str
    notes: str = ""
    error: str
    reason: str
    attempted_at: datetime


class StoredRequest(BaseModel):
    """A request as stored: the domain request plus what only the store tracks."""

    model_config = ConfigDict(frozen=True)

    request: ApprovalRequest
    # The model version, or None for a prompt request (then prompt_version_id is set).
    version_id: int | None
    prompt_version_id: int | None = None
    completed_at: datetime | None = None


def _without_ids(row, *also: str) -> dict:
    """A row as a mapping without its surrogate key (and any other named columns)."""
    return {k: v for k, v in row._asdict().items() if k != "id" and k not in also}


class ApprovalRepository:
    """Reads and writes approval rows on the caller's connection and transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_request(
        self,
        request: ApprovalRequest,
        *,
        version_id: int | None = None,
        prompt_version_id: int | None = None,
        evaluation_run: bool = True,
    ) -> ApprovalRequest:
        """Insert a new request (its decisions, if any, are added with add_decision).

        `evaluation_run=False` when its evaluation is no evaluation_runs row (an LLM version's
        prompt-suite evaluation): the evidence names it, the foreign key stays empty.
        """
        linked = request.kind == "promotion" and evaluation_run
        self.conn.execute(
            approval_requests.insert().values(
                id=request.id,
                version_id=version_id,
                prompt_version_id=prompt_version_id,
                evaluation_run_id=request.evidence["evaluation_run_id"] if linked else None,
                model_name=request.model_name,
                version=request.version,
                target_stage=request.target_stage.value,
                requested_by=request.requested_by,
                version_created_by=request.version_created_by,
                required=dict(request.required),
                evidence=dict(request.evidence),
                evidence_digest=request.evidence_digest,
                policy_version=request.policy_version,
                status=request.status.value,
                created_at=request.created_at,
                expires_at=request.expires_at,
                status_changed_at=request.created_at,
                kind=request.kind,
                flow_run_id=request.flow_run_id,
                identity=request.identity,
                run_parameters=request.run_parameters,
            )
        )
        return request

    def find(self, request_id: str) -> StoredRequest | None:
        """The stored request with its decisions in order, or None."""
        row = self.conn.execute(sa.select(approval_requests).where(q.id == request_id)).first()
        return self._stored(row) if row else None

    def get(self, request_id: str) -> StoredRequest:
        """The stored request, or NotFound."""
        found = self.find(request_id)
        if found is None:
            raise NotFound(f"unknown approval request {request_id!r}")
        return found

    def with_status(self, status: RequestStatus) -> list[ApprovalRequest]:
        """Requests in a status, oldest first."""
        stmt = sa.select(approval_requests).where(q.status == status.value)
        rows = self.conn.execute(stmt.order_by(q.created_at, q.id))
        return [self._stored(row).request for row in rows]

    def with_status_kind(self, status: str, kind: str) -> list[ApprovalRequest]:
        """Requests of one kind in a status, oldest first."""
        stmt = sa.select(approval_requests).where(q.status == status, q.kind == kind)
        rows = self.conn.execute(stmt.order_by(q.created_at, q.id))
        return [self._stored(row).request for row in rows]

    def open_for(self, version_id: int, target: str, kind: str) -> ApprovalRequest | None:
        """The open request of this kind for a version and target, if any (at most one)."""
        stmt = sa.select(approval_requests).where(
            q.version_id == version_id,
            q.target_stage == target,
            q.kind == kind,
            q.status == RequestStatus.open.value,
        )
        row = self.conn.execute(stmt).first()
        return self._stored(row).request if row else None

    def open_for_prompt(self, prompt_version_id: int) -> ApprovalRequest | None:
        """The open prompt-promotion request of a prompt version, if any (at most one)."""
        stmt = sa.select(approval_requests).where(
            q.prompt_version_id == prompt_version_id, q.status == RequestStatus.open.value
        )
        row = self.conn.execute(stmt).first()
        return self._stored(row).request if row else None

    def for_flow_run(self, flow_run_id: str) -> StoredRequest | None:
        """The request a promote-model run opened, so a re-executed run finds it again."""
        row = self.conn.execute(
            sa.select(approval_requests).where(q.flow_run_id == flow_run_id)
        ).first()
        return self._stored(row) if row else None

    def approved_promotions(
        self, model: str, version: str, *, also_cancelled: bool = False
    ) -> list[StoredRequest]:
        """Approved promotion requests of a version (carried out or not), oldest first.

        `also_cancelled` adds requests closed after their approvals, such as a canary that
        rolled back: at the time it served, it served on those approvals.
        """
        statuses = [RequestStatus.approved.value]
        if also_cancelled:
            statuses.append(RequestStatus.cancelled.value)
        stmt = sa.select(approval_requests).where(
            q.model_name == model,
            q.version == version,
            q.kind == "promotion",
            q.status.in_(statuses),
        )
        return [self._stored(row) for row in self.conn.execute(stmt.order_by(q.status_changed_at))]

    def production_requests(self, model: str, version: str) -> list[StoredRequest]:
        """Every request to put a version in production (promotion, retro-review), oldest first."""
        stmt = sa.select(approval_requests).where(
            q.model_name == model,
            q.version == version,
            q.target_stage == "production",
            q.kind.in_(("promotion", "retro_review")),
        )
        rows = self.conn.execute(stmt.order_by(q.created_at, q.id))
        return [self._stored(row) for row in rows]

    def answers(self, request_id: str) -> int:
        """Decisions plus refused attempts recorded on a request: the approval round."""
        decided = sa.select(sa.func.count()).where(dc.request_id == request_id)
        refused = sa.select(sa.func.count()).where(rf.request_id == request_id)
        return self.conn.execute(decided).scalar_one() + self.conn.execute(refused).scalar_one()

    def closed_reason(self, request_id: str) -> str | None:
        """Why a request was closed, when it was closed with a reason."""
        stmt = sa.select(q.closed_reason).where(q.id == request_id)
        return self.conn.execute(stmt).scalar_one_or_none()

    def add_decision(self, request_id: str, approval: Approval) -> None:
        """Append one accepted decision."""
        self.conn.execute(
            approval_decisions.insert().values(request_id=request_id, **approval.model_dump())
        )

    def set_status(
        self, request_id: str, status: RequestStatus, now: datetime, reason: str | None = None
    ) -> None:
        """Record the request's new status (and, when it closes, why)."""
        self.conn.execute(
            approval_requests.update()
            .where(q.id == request_id)
            .values(status=status.value, status_changed_at=now, closed_reason=reason)
        )

    def mark_completed(self, request_id: str, now: datetime) -> None:
        """Record that the approved move was carried out."""
        self.conn.execute(
            approval_requests.update().where(q.id == request_id).values(completed_at=now)
        )

    def add_refusal(self, attempt: RefusedAttempt) -> None:
        """Record a refused attempt."""
        self.conn.execute(approval_refusals.insert().values(**attempt.model_dump()))

    def refusals(self, request_id: str) -> list[RefusedAttempt]:
        """Refused attempts on a request, oldest first."""
        stmt = sa.select(approval_refusals).where(rf.request_id == request_id).order_by(rf.id)
        rows = self.conn.execute(stmt)
        return [RefusedAttempt.model_validate(_without_ids(row)) for row in rows]

    def _decisions(self, request_id: str) -> list[Approval]:
        stmt = sa.select(approval_decisions).where(dc.request_id == request_id).order_by(dc.id)
        rows = self.conn.execute(stmt)
        return [Approval.model_validate(_without_ids(row, "request_id")) for row in rows]

    def _stored(self, row) -> StoredRequest:
        request = ApprovalRequest(
            id=row.id,
            model_name=row.model_name,
            version=row.version,
            target_stage=row.target_stage,
            requested_by=row.requested_by,
            version_created_by=row.version_created_by,
            required=row.required,
            evidence=row.evidence,
            evidence_digest=row.evidence_digest,
            policy_version=row.policy_version,
            status=row.status,
            approvals=self._decisions(row.id),
            created_at=row.created_at,
            expires_at=row.expires_at,
            kind=row.kind,
            flow_run_id=row.flow_run_id,
            identity=row.identity,
            run_parameters=row.run_parameters,
        )
        return StoredRequest(
            request=request,
            version_id=row.version_id,
            prompt_version_id=row.prompt_version_id,
            completed_at=row.completed_at,
        )
