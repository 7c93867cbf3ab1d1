"""The retirement audit of one version: gather its facts, run every check, record the verdict.

A check that raises becomes an error finding of its own, so one broken version never stops
the audit of the others. A version is recorded once per audit run: a re-run of the same run
(after a crash) finds the row and returns it instead of checking again.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from governance.bootstrap import Governance
from governance.domain import retirement as rules
from governance.domain.cards import ModelCard
from governance.domain.models import LifecycleStage, ModelVersion
from governance.domain.monitoring import AuditRow, Check, Finding, findings_digest, json_safe
from governance.domain.withdrawal import serving_versions
from governance.services.monitoring.references import load_stored_frame, utc
from governance.services.monitoring.windows import Window, current_window
from governance.services.promotion import retro_review
from governance.services.rollout.withdrawal import successor_in
from governance.store.monitoring import ReferenceProfile
from governance.store.unit_of_work import Transaction


def audit_targets(gov: Governance, models: list[str] | None = None) -> dict[str, list[str]]:
    """Model -> versions to check: each production version and each version serving traffic."""
    wanted: dict[str, set[str]] = {}
    with gov.store.read() as tx:
        names = models or [m.name for m in tx.registry.list_models()]
        for name in names:
            tx.registry.get_model(name)  # an unknown model named on purpose is bad input
            found = {
                v.version for v in tx.registry.versions_in_stage(name, LifecycleStage.production)
            }
            for endpoint in tx.routing.endpoints(name):
                current = tx.routing.latest_spec(endpoint.name)
                if current is not None:
                    found |= serving_versions(current.spec)
            if found:
                wanted[name] = found
    return {name: sorted(versions) for name, versions in sorted(wanted.items())}


class _Facts:
    """What the checks read about one version, gathered in one read transaction."""

    def __init__(self, tx: Transaction, gov: Governance, found: ModelVersion, now: datetime):
        self.found = found
        revision = tx.cards.latest(found.id)
        self.card = revision.card if revision else ModelCard()
        self.card_revised_at = utc(revision.created_at) if revision else utc(found.created_at)
        self.criteria = rules.effective_criteria(
            self.card.retirement_criteria, gov.policy.retirement
        )
        approved = tx.approvals.approved_promotions(found.model_name, found.version)
        decided = [a.decided_at for s in approved for a in s.request.approvals]
        self.approved_at = utc(max(decided)) if decided else None
        self.profile = tx.monitoring.reference(found.id)
        self.successor = successor_in(tx, found)
        self.last_activity = tx.monitoring.last_activity(found.model_name, found.version, found.id)
        self.retro_reviews = [
            r.id
            for r in tx.approvals.with_status_kind("open", "retro_review")
            if (r.model_name, r.version) == (found.model_name, found.version)
        ]
        # A rejected retro-review no rollback could answer stays a breach until a lead acts.
        self.escalated = [
            r.id
            for r in retro_review.escalated_in(tx)
            if (r.model_name, r.version) == (found.model_name, found.version)
        ]
        # A rejected review keeps the version until its card's next review is due, as the
        # review form told its approvers.
        period = retention_period(self.card, gov.policy.retirement.review_days)
        self.retained_until, self.rejection = _retained(tx, found, period)


def retention_period(card: ModelCard, default_days: int) -> int:
    """Days a rejected retirement keeps a version: its card's review period, else the default."""
    return rules.review_period_days(card.review_schedule) or default_days


def _retained(tx: Transaction, found: ModelVersion, days: int):
    """Until when a rejected retirement review keeps the version, and the rejection's reason."""
    rejected = [
        r
        for r in tx.approvals.with_status_kind("rejected", "retirement")
        if (r.model_name, r.version) == (found.model_name, found.version)
    ]
    if not rejected:
        return None, ""
    last = rejected[-1]
    no = [a for a in last.approvals if a.decision == "reject"]
    when = utc(no[-1].decided_at if no else last.created_at)
    reason = f"{no[-1].approver}: {no[-1].notes}" if no else "rejected"
    return when + timedelta(days=days), reason


# Renders a drifting version's HTML report: (reference, current, drift) -> bytes.
Render = Callable[[Any, Any, Any], bytes]


def audit_version(
    gov: Governance,
    model: str,
    version: str,
    *,
    audit_run: str,
    now: datetime,
    render: Render | None = None,
) -> tuple[AuditRow, bytes | None]:
    """Check one version, record its verdict once per audit run; the HTML report if drifting."""
    with gov.store.read() as tx:
        found = tx.registry.get_version(model, version)
        done = tx.monitoring.audit_of(audit_run, found.id)
        if done is not None:
            return done, None
        facts = _Facts(tx, gov, found, now)
    findings, report = _checks(gov, facts, now, render)
    verdict, reason = rules.decide(
        findings, successor=facts.successor, retained_until=facts.retained_until, now=now
    )
    if facts.retained_until is not None and facts.retained_until > now:
        reason = f"{reason} (retirement rejected by {facts.rejection})"
    digest = store_report(gov, report) if report else None
    row = _record(
        gov, found, audit_run, verdict.value, reason, facts.successor, findings, digest, now
    )
    return row, report


def _checks(
    gov: Governance, facts: _Facts, now: datetime, render: Render | None
) -> tuple[list[Finding], bytes | None]:
    """Every check in turn; one that raises becomes an error finding and the rest still run."""
    c, found = facts.criteria, facts.found
    window: list[Window] = []
    report: list[bytes] = []

    def data() -> Window:
        if not window:
            window.append(
                current_window(
                    gov,
                    found,
                    facts.profile,
                    drift_days=c.drift_window_days,
                    accuracy_days=c.accuracy_window_days,
                    now=now,
                )
            )
        return window[0]

    checks: list[tuple[Check, Callable[[], Finding]]] = [
        (Check.age, lambda: _age(facts, now)),
        (Check.accuracy, lambda: _accuracy(facts, data(), now)),
        (Check.drift, lambda: _drift(gov, facts, data(), report, render)),
        (
            Check.stale_card,
            lambda: rules.stale_card_finding(
                schedule=facts.card.review_schedule,
                last_reviewed=facts.card_revised_at,
                criteria=c,
                now=now,
            ),
        ),
        (
            Check.no_traffic,
            lambda: rules.no_traffic_finding(
                last_activity=facts.last_activity and utc(facts.last_activity),
                since=utc(found.stage_changed_at or found.created_at),
                criteria=c,
                now=now,
            ),
        ),
        (
            Check.break_glass,
            lambda: rules.break_glass_finding(facts.retro_reviews, facts.escalated),
        ),
    ]
    findings = []
    for check, run in checks:
        try:
            findings.append(run())
        except Exception as exc:  # whatever it was, it is this check's finding, not a crash
            findings.append(rules.error_finding(check, exc))
    return findings, (report[0] if report else None)


def _age(facts: _Facts, now: datetime) -> Finding:
    return rules.age_finding(
        trained_on=facts.card.training_date,
        created_at=utc(facts.found.created_at),
        approved_at=facts.approved_at,
        criteria=facts.criteria,
        now=now,
    )


def _accuracy(facts: _Facts, window: Window, now: datetime) -> Finding:
    from governance.ml import accuracy

    c = facts.criteria
    series, value, labels = accuracy.scores(
        c.accuracy_metric,
        window.labelled,
        min_labels=c.min_labels,
        since=now - timedelta(days=c.accuracy_window_days),
        until=now,
    )
    return rules.accuracy_finding(
        series=series, window_value=value, window_labels=labels, criteria=c
    )


def _drift(
    gov: Governance, facts: _Facts, window: Window, report: list[bytes], render: Render | None
) -> Finding:
    from governance.ml import drift

    profile: ReferenceProfile | None = facts.profile
    c = facts.criteria
    if profile is None or len(window.features) < c.min_drift_rows:
        return rules.drift_finding(None, current_rows=len(window.features), criteria=c)
    reference = load_stored_frame(gov, profile.digest)
    result = drift.dataset_drift(reference, window.features, profile.stats, c.max_drift_share)
    if result.drifting:
        report.append((render or drift.drift_report_html)(reference, window.features, result))
    return rules.drift_finding(result, current_rows=len(window.features), criteria=c)


def _record(
    gov: Governance,
    found: ModelVersion,
    audit_run: str,
    verdict: str,
    reason: str,
    successor: str | None,
    findings: list[Finding],
    digest: str | None,
    now: datetime,
) -> AuditRow:
    """Store the verdict and its audit event together."""
    dumped = json_safe([f.model_dump(mode="json") for f in findings])
    row = {
        "id": str(uuid.uuid4()),
        "audit_run": audit_run,
        "model_version_id": found.id,
        "verdict": verdict,
        "reason": reason,
        "successor": successor,
        "findings": dumped,
        "report_digest": digest,
        "checked_at": now,
    }
    with gov.store.write() as tx:
        done = tx.monitoring.audit_of(audit_run, found.id)
        if done is not None:
            return done  # a concurrent re-run of the same audit recorded it first
        tx.monitoring.add_audit(row)
        tx.audit.append(
            "retirement.checked",
            actor="retirement-audit",
            now=now,
            model=found.model_name,
            version=found.version,
            details={
                "audit_run": audit_run,
                "audit_id": row["id"],
                "verdict": verdict,
                "reason": reason,
                "successor": successor,
                "findings": {f.check.value: f.status.value for f in findings},
                "findings_digest": findings_digest(dumped),
                "report_digest": digest,
            },
        )
        return tx.monitoring.audit_of(audit_run, found.id)


def record_failure(
    gov: Governance, model: str, version: str, *, audit_run: str, exc: Exception, now: datetime
) -> AuditRow:
    """Record a version whose facts could not even be gathered: an error finding, re-validate."""
    with gov.store.read() as tx:
        found = tx.registry.get_version(model, version)
    finding = rules.error_finding(Check.error, exc)
    verdict, reason = rules.decide([finding], successor=None, retained_until=None, now=now)
    return _record(gov, found, audit_run, verdict.value, reason, None, [finding], None, now)


def store_report(gov: Governance, html: bytes) -> str:
    """Store an HTML report content-addressed, with a `.html` twin a browser opens; its digest."""
    digest = gov.artifacts.put_bytes(html).digest
    report_path(gov, digest)
    return digest


def report_path(gov: Governance, digest: str) -> Path:
    """The report's `.html` name: a hard link to the content-addressed file, made once."""
    stored = gov.artifacts.path_for(digest)
    named = stored.with_suffix(".html")
    if not named.exists():
        # another audit worker may link it first
        with contextlib.suppress(FileExistsError):
            os.link(stored, named)
    return named
