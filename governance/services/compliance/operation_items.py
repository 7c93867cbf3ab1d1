"""Annex IV points 3 to 9: operation, metrics, risk, changes, standards, declaration, monitoring."""

from __future__ import annotations

from governance.domain.audit import AuditEvent
from governance.domain.compliance_pack import Draft, Item
from governance.domain.models import LifecycleStage
from governance.domain.policy import gate_policy_for
from governance.domain.retirement import RETIREMENT_AUDIT_CRON
from governance.services.compliance import sources
from governance.services.compliance.lifecycle import lifecycle_rows, served_rows
from governance.services.compliance.records import VersionRecords


def operation_items(records: VersionRecords) -> list[Item]:
    """Items 3 to 9."""
    return [
        _functioning(records),
        _metrics(records),
        _risk(records),
        _changes(records),
        _standards(records),
        _declaration(records),
        _post_market(records),
    ]


def _latest_card(draft: Draft, records: VersionRecords):
    if not records.cards:
        return None
    draft.cite(sources.card(records.model.name, records.version.version, records.cards[-1]))
    return records.cards[-1].card


def _functioning(records: VersionRecords) -> Item:
    draft = Draft("3")
    card = _latest_card(draft, records)
    limits = [*(card.known_limitations if card else []), *(card.out_of_scope_uses if card else [])]
    if draft.need("capabilities and limitations (card)", bool(limits)):
        draft.say("Known limitations and out-of-scope uses: " + "; ".join(limits))
    run = records.evaluations[-1] if records.evaluations else None
    groups = run.result.per_group if run else {}
    by_group = groups or (card.performance_by_group if card else {})
    if draft.need("accuracy overall and by group (evaluation or card)", bool(by_group)):
        if run:
            overall = ", ".join(f"{k} {v:.4f}" for k, v in sorted(run.result.metrics.items()))
            draft.say(f"Overall on {run.dataset}: {overall}.")
            for column, gap in sorted(run.result.fairness_gap.items()):
                draft.say(f"Widest gap across `{column}` groups: {gap:.4f}.")
            draft.cite(sources.evaluation(run))
        draft.table("Performance by group", ["group", "metrics"], _group_rows(by_group))
    served, cited = served_rows(records)
    live = records.version.stage == LifecycleStage.production
    if draft.need("monitoring in force (routing, retirement audit)", bool(served) or live):
        if served:
            draft.table(
                "Where it serves (live routing)",
                ["endpoint", "spec", "share", "since", "by", "reason"],
                served,
            )
            draft.cite(*cited)
        if live:
            draft.say(
                "In production it is in the nightly retirement audit (age, accuracy on labelled "
                "outcomes, drift, traffic, card freshness, open retro-reviews); see point 9."
            )
    verdicts = records.of_type("rollout.verdict")
    if verdicts:
        draft.table(
            "Canary verdicts",
            ["event", "when", "endpoint", "weight", "verdict"],
            [
                [
                    f"#{e.seq}",
                    e.ts[:16],
                    e.details.get("endpoint"),
                    e.details.get("weight"),
                    e.details.get("verdict"),
                ]
                for e in verdicts
            ],
        )
        draft.cite(*(sources.event(e) for e in verdicts))
    sources.provided_field(draft, records, "input_specifications", "Input data specifications")
    sources.provided_field(
        draft, records, "foreseeable_unintended_outcomes", "Foreseeable unintended outcomes"
    )
    return draft.item()


def _group_rows(by_group: dict) -> list[list[str]]:
    rows = []
    for group, values in sorted(by_group.items()):
        if values and all(isinstance(v, dict) for v in values.values()):
            for member, metrics in sorted(values.items()):
                rows.append([f"{group}={member}", _metrics_text(metrics)])
        else:
            rows.append([group, _metrics_text(values)])
    return rows


def _metrics_text(metrics: dict) -> str:
    return ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
    )


def _metrics(records: VersionRecords) -> Item:
    draft = Draft("4")
    gate = gate_policy_for(records.policy, records.model.name)
    rows = [[t.metric, t.direction, f"{t.value:g}"] for t in gate.thresholds]
    rows.append(["regression against production", "max drop", f"{gate.regression_tolerance:g}"])
    if gate.max_fairness_gap is not None:
        rows.append(["fairness gap between groups", "max", f"{gate.max_fairness_gap:g}"])
    if gate.max_latency_p95_ms is not None:
        rows.append(["latency p95 (ms)", "max", f"{gate.max_latency_p95_ms:g}"])
    draft.need("gate metrics and thresholds (policy)", True)
    draft.table("The gate every version must pass", ["metric", "bound", "value"], rows)
    draft.cite(sources.policy(records.policy.version))
    evaluated = records.of_type("model.evaluated")
    if draft.need("the metrics measured against them (model.evaluated)", bool(evaluated)):
        draft.say(f"Latest measured: {_metrics_text(evaluated[-1].details.get('metrics') or {})}.")
        draft.cite(sources.event(evaluated[-1]))
    sources.provided_field(draft, records, "metrics_rationale", "Why these metrics suit the system")
    return draft.item()


def _risk(records: VersionRecords) -> Item:
    draft = Draft("5")
    model = records.model
    draft.need("risk classification (registry)", True)
    changes = records.of_type("model.registered", "model.risk_changed")
    draft.say(f"Risk level: {model.risk_level.value}.")
    if changes:
        draft.table(
            "Risk classification history",
            ["event", "when", "by", "risk"],
            [
                [
                    f"#{e.seq}",
                    e.ts[:16],
                    e.actor,
                    e.details.get("risk_level") or e.details.get("to", ""),
                ]
                for e in changes
            ],
        )
        draft.cite(*(sources.event(e) for e in changes))
    card = _latest_card(draft, records)
    assessed = bool(card and (card.ethical_considerations or card.fairness_assessment))
    if draft.need("risk and ethics assessment (card)", assessed):
        for label, value in (
            ("Ethical considerations", card.ethical_considerations),
            ("Fairness assessment", card.fairness_assessment),
        ):
            if value:
                draft.say(f"{label}: {value}")
    glass = records.of_type("promotion.break_glass")
    for found in glass:
        draft.say(
            f"Break-glass promotion by {found.actor} at {found.ts[:16]}: "
            f"{found.details.get('reason')}."
        )
        draft.cite(sources.event(found))
    sources.provided_field(draft, records, "risk_management", "Risk management system (Art. 9)")
    return draft.item()


def _changes(records: VersionRecords) -> Item:
    draft = Draft("6")
    rows, events = lifecycle_rows(records)
    if draft.need("lifecycle changes (audit trail)", bool(rows)):
        draft.table(
            "Every lifecycle change: who, when, why", ["event", "when", "who", "what", "why"], rows
        )
        draft.cite(*(sources.event(e) for e in events))
    return draft.item()


def _standards(records: VersionRecords) -> Item:
    draft = Draft("7")
    standards = sources.document_field(records, "standards")
    given = bool(standards and (standards.applied or standards.alternative_solutions))
    if draft.need("standards applied or solutions adopted (compliance.yaml: standards)", given):
        if standards.applied:
            draft.table(
                "Standards applied",
                ["reference", "title", "applied", "harmonised"],
                [
                    [s.reference, s.title, s.applied, "yes" if s.harmonised else "no"]
                    for s in standards.applied
                ],
            )
        if standards.alternative_solutions:
            draft.say(f"Solutions adopted: {standards.alternative_solutions}")
        draft.cite(sources.document(records.model.name, records.document))
    return draft.item()


def _declaration(records: VersionRecords) -> Item:
    draft = Draft("8")
    declaration = sources.document_field(records, "declaration")
    if draft.need("EU declaration of conformity (compliance.yaml: declaration)", bool(declaration)):
        draft.say(
            f"Declaration {declaration.reference}, signed by {declaration.signed_by} on "
            f"{declaration.signed_on.isoformat()}."
        )
        if declaration.text:
            draft.say(declaration.text)
        draft.cite(sources.document(records.model.name, records.document))
    return draft.item()


def _post_market(records: VersionRecords) -> Item:
    draft = Draft("9")
    policy, card = records.policy.retirement, _latest_card(draft, records)
    own = card.retirement_criteria if card else None
    draft.need("retirement checks and thresholds (policy and card)", True)
    draft.table(
        "Checks of the retirement audit",
        ["check", "threshold", "set by"],
        [
            [
                "age",
                f"{_own(own, 'max_age_days') or policy.max_age_days} days",
                _by(own, "max_age_days"),
            ],
            [
                "accuracy on labelled outcomes",
                f"{_own(own, 'accuracy_metric') or policy.accuracy_metric} >= "
                f"{_own(own, 'min_accuracy') or policy.min_accuracy} over "
                f"{policy.accuracy_window_days} days",
                _by(own, "min_accuracy"),
            ],
            [
                "drift (Evidently)",
                f"share of drifted columns <= "
                f"{_own(own, 'max_drift_share') or policy.max_drift_share} over "
                f"{policy.drift_window_days} days",
                _by(own, "max_drift_share"),
            ],
            [
                "no traffic",
                f"{_own(own, 'no_traffic_days') or policy.no_traffic_days} days",
                _by(own, "no_traffic_days"),
            ],
            ["stale card, open retro-reviews", "any", "policy"],
        ],
    )
    draft.cite(sources.policy(records.policy.version))
    draft.need("the audit schedule (deployment)", True)
    draft.say(f"The retirement audit runs on the cron schedule `{RETIREMENT_AUDIT_CRON}` (UTC).")
    audits = records.of_type("retirement.checked")
    ever_live = any(
        e.details.get("to") == "production" for e in records.of_type("model.stage_changed")
    )
    if draft.need("the audits actually run (retirement.checked)", bool(audits) or not ever_live):
        if audits:
            draft.table(
                "Retirement audits run",
                ["event", "when", "verdict", "findings", "audit"],
                [
                    [
                        f"#{e.seq}",
                        e.ts[:16],
                        e.details.get("verdict"),
                        _findings(e),
                        e.details.get("audit_id"),
                    ]
                    for e in audits
                ],
            )
            draft.cite(*(sources.event(e) for e in audits))
            draft.cite(
                *(
                    sources.retirement_audit(
                        e.details.get("audit_id", ""), e.details.get("findings_digest")
                    )
                    for e in audits
                )
            )
        else:
            draft.say("The version has not served in production: no retirement audit was due.")
    sources.provided_field(
        draft, records, "post_market_plan", "Post-market monitoring plan (Art. 72(3))"
    )
    return draft.item()


def _own(criteria, field: str):
    return getattr(criteria, field, None) if criteria else None


def _by(criteria, field: str) -> str:
    return "model card" if _own(criteria, field) is not None else "policy"


def _findings(found: AuditEvent) -> str:
    findings = found.details.get("findings") or {}
    flagged = [name for name, state in sorted(findings.items()) if state != "ok"]
    return ", ".join(flagged) if flagged else "all ok"
