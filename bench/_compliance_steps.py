"""Steps of a target version's life for bench/_compliance_store.py: approvals, monitoring.

Each step writes the rows its service would and returns (event_type, actor, details) with
the details that service writes, or None when it called the service's own in-transaction
function, whose events `Capture` kept. Mixed into `_compliance_life.Life`, which holds the
transaction (`self.tx`), the policy, the random source and the rows collected in bulk.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _compliance_store import Target

CHECKS = ("age", "accuracy", "drift", "stale_card", "no_traffic")


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (setup is reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def new_digest(rng: random.Random) -> str:
    """A sha256-shaped hex digest drawn from `rng`."""
    return f"{rng.getrandbits(256):064x}"


class ApprovalSteps:
    """Request tokens, approval requests, a refused attempt, decisions (promotion/*)."""

    def _stage_target(self, t: Target) -> str:
        return "staging" if t.state.get("stage", "development") == "development" else "production"

    def _token_issued(self, t: Target, _n: int, now: datetime):
        token = {"id": new_uuid(self.rng), "person": "alice", "model_name": t.model}
        token |= {"version": t.version, "target_stage": self._stage_target(t)}
        token |= {"issued_at": now, "expires_at": now + timedelta(minutes=10)}
        token |= {"used_at": None, "flow_run_id": None, "parameters": None}
        self.tokens.append(token)
        t.state["token"] = token
        return (
            "request_token.issued",
            "alice",
            {
                "token_id": token["id"],
                "target_stage": token["target_stage"],
                "expires_at": ts(token["expires_at"]),
                "method": "totp",
                "parameters_digest": None,
            },
        )

    def _token_used(self, t: Target, _n: int, now: datetime):
        token = t.state["token"]
        token["used_at"], token["flow_run_id"] = now, new_uuid(self.rng)
        t.state["flow_run_id"] = token["flow_run_id"]
        return (
            "request_token.used",
            "alice",
            {
                "token_id": token["id"],
                "target_stage": token["target_stage"],
                "flow_run_id": token["flow_run_id"],
            },
        )

    def _requested(self, t: Target, _n: int, now: datetime):
        from governance.domain import approvals as rules
        from governance.domain.evidence import NO_INCUMBENT
        from governance.domain.models import LifecycleStage, RiskLevel
        from governance.store.evaluation import contents_digest

        incumbent = self.production.get(t.model)
        run = t.state["run"]
        request = rules.open_request(
            id=new_uuid(self.rng),
            model_name=t.model,
            version=t.version,
            target_stage=LifecycleStage(self._stage_target(t)),
            risk=RiskLevel.high,
            requested_by="alice",
            version_created_by="alice",
            artifact_digest=t.state["artifact_digest"],
            card_hash=t.state["revision"].card_hash,
            evaluation_run_id=run.id,
            evaluation_digest=contents_digest(run),
            incumbent_version=incumbent.version if incumbent else NO_INCUMBENT,
            policy=self.policy,
            now=now,
            flow_run_id=t.state["flow_run_id"],
        )
        self.tx.approvals.add_request(request, version_id=t.version_id)
        t.state["request"] = request
        return (
            "approval.requested",
            "alice",
            request_details(request)
            | {
                "kind": "promotion",
                "required": dict(request.required),
                "evidence": dict(request.evidence),
                "expires_at": request.expires_at.isoformat(),
                "requester_verified": True,
                "flow_run_id": request.flow_run_id,
            },
        )

    def _refused(self, t: Target, _n: int, now: datetime):
        from governance.store.approvals import RefusedAttempt

        request = t.state["request"]
        reason = f"alice opened request {request.id}; nobody may approve their own request"
        attempt = RefusedAttempt(
            request_id=request.id,
            approver="alice",
            role="ml_engineer",
            decision="approve",
            error="SeparationOfDuties",
            reason=reason,
            attempted_at=now,
        )
        self.tx.approvals.add_refusal(attempt)
        shown = {"approver": "alice", "role": "ml_engineer", "decision": "approve"}
        return (
            "approval.refused",
            "alice",
            request_details(request)
            | shown
            | {
                "notes": "",
                "error": attempt.error,
                "reason": reason,
            },
        )

    def _decided(self, t: Target, _n: int, now: datetime):
        from governance.domain import approvals as rules
        from governance.domain import decisions

        request = t.state["request"]
        missing = sorted(rules.missing_roles(request))
        role = missing[0]
        approver = {"ml_engineer": "bob", "ml_lead": "carol", "risk_officer": "dave"}.get(
            role, "erin"
        )
        asked = {"approver": approver, "role": role, "decision": "approve"}
        asked["notes"] = f"evidence reviewed for {t.model}@{t.version}"
        updated = decisions.decide(request, **asked, policy=self.policy, now=now, verified=True)
        approval = updated.approvals[-1]
        self.tx.approvals.add_decision(request.id, approval)
        if updated.status != request.status:
            self.tx.approvals.set_status(request.id, updated.status, now)
        t.state["request"] = updated
        details = (
            request_details(updated)
            | asked
            | {
                "verified": True,
                "policy_version": approval.policy_version,
                "status": updated.status.value,
                "missing_roles": dict(rules.missing_roles(updated)),
            }
        )
        return "approval.decided", approver, details

    def _approved(self, t: Target, _n: int, _now: datetime):
        request = t.state["request"]
        if request.status.value != "approved":
            raise SystemExit(f"setup: {t.model}@{t.version}'s request is {request.status.value}")
        decided = [{"approver": a.approver, "role": a.role} for a in request.approvals]
        return (
            "approval.approved",
            request.approvals[-1].approver,
            request_details(request) | {"decisions": decided},
        )


class MonitoringSteps:
    """A reference sample, ingested batches and nightly retirement audits (monitoring/*)."""

    def _reference(self, t: Target, _n: int, now: datetime):
        from governance.store.monitoring import ReferenceProfile

        digest = new_digest(self.rng)
        stats = {"tenure_months": {"kind": "num", "mean": 31.2}, "plan": {"kind": "cat"}}
        profile = ReferenceProfile(
            model_version_id=t.version_id,
            digest=digest,
            uri=f"sha256/{digest}",
            n_rows=5000,
            stats=stats,
            source="holdout-2025-01.parquet",
            created_by="alice",
            created_at=now,
        )
        self.tx.monitoring.add_reference(profile)
        return (
            "monitoring.reference_stored",
            "alice",
            {
                "digest": digest,
                "rows": 5000,
                "source": profile.source,
            },
        )

    def _ingested(self, t: Target, _n: int, now: datetime):
        digest, source = new_digest(self.rng), new_digest(self.rng)
        batch = {"id": new_uuid(self.rng), "model_version_id": t.version_id, "digest": digest}
        batch |= {"uri": f"sha256/{digest}", "source_digest": source, "n_rows": 480}
        batch |= {"n_labels": 410, "first_at": now - timedelta(minutes=45), "last_at": now}
        batch |= {"ingested_by": "monitoring-ingest", "ingested_at": now}
        self.batches.append(batch)
        return (
            "monitoring.ingested",
            "monitoring-ingest",
            {
                "batch": batch["id"],
                "digest": digest,
                "source_digest": source,
                "rows": 480,
                "labels": 410,
            },
        )

    def _checked(self, t: Target, n: int, now: datetime):
        from governance.domain.monitoring import findings_digest

        findings = [
            {"check": check, "status": "ok", "message": f"{check} within the criteria"}
            | {"figures": {}, "hard": check in ("age", "accuracy", "drift")}
            for check in CHECKS
        ]
        audit_run = f"nightly-{t.index * 15 + n:04d}"  # one run audits every live version
        row = {"id": new_uuid(self.rng), "audit_run": audit_run, "model_version_id": t.version_id}
        row |= {"verdict": "retain", "reason": "every check passed", "successor": None}
        row |= {"findings": findings, "report_digest": None, "checked_at": now}
        self.audits.append(row)
        return (
            "retirement.checked",
            "retirement-audit",
            {
                "audit_run": audit_run,
                "audit_id": row["id"],
                "verdict": "retain",
                "reason": row["reason"],
                "successor": None,
                "findings": {f["check"]: f["status"] for f in findings},
                "findings_digest": findings_digest(findings),
                "report_digest": None,
            },
        )


class Capture:
    """Stands in for the transaction's AuditLog: keeps each appended event, in order."""

    def __init__(self, into: list[tuple]) -> None:
        self.into = into

    def append(self, event_type, *, actor, now, model=None, version=None, details=None):
        """Keep (event_type, model, version, actor, details)."""
        self.into.append((event_type, model, version, actor, details or {}))


def table(name: str):
    """The store's table called `name`."""
    from governance.store import tables

    return tables.metadata.tables[name]


def ts(value: datetime) -> str:
    """A time as the services write it into event details."""
    from governance.domain.audit import format_ts

    return format_ts(value)


def request_details(request) -> dict[str, Any]:
    """The keys every approval event carries (services/trust/request_events.py)."""
    return {
        "request_id": request.id,
        "target_stage": request.target_stage.value,
        "evidence_digest": request.evidence_digest,
    }
