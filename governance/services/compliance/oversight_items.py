"""Annex IV 2(e) to 2(g): human oversight, pre-determined changes, tests and their approvals."""

from __future__ import annotations

from governance.domain.approvals import required_roles, retirement_roles
from governance.domain.audit import AuditEvent
from governance.domain.compliance_pack import Draft, Item
from governance.domain.models import LifecycleStage
from governance.services.compliance import sources
from governance.services.compliance.records import VersionRecords

TOTP = "one-time code (TOTP, RFC 6238)"


def oversight_items(records: VersionRecords) -> list[Item]:
    """Items 2(e), 2(f) and 2(g)."""
    return [_oversight(records), _predetermined(records), _testing(records)]


def _policy_versions(records: VersionRecords) -> list[str]:
    """The policy versions the version's evaluations and decisions were made under."""
    seen = [
        e.details["policy_version"]
        for e in records.of_type("model.evaluated", "approval.decided")
        if e.details.get("policy_version")
    ]
    return list(dict.fromkeys([*seen, records.policy.version]))


def _oversight(records: VersionRecords) -> Item:
    draft = Draft("2(e)")
    policy, risk = records.policy, records.model.risk_level
    roles = {
        stage.value: required_roles(policy, stage, risk)
        for stage in (LifecycleStage.staging, LifecycleStage.production)
    }
    roles["retirement"] = retirement_roles(policy)
    draft.need("approval rules (policy)", True)
    draft.table(
        f"Who must approve, for a {risk.value}-risk model",
        ["move", "roles (people per role)", "holders in the roster"],
        [
            [move, ", ".join(f"{r} ({n})" for r, n in needed.items()), _holders(records, needed)]
            for move, needed in roles.items()
        ],
    )
    draft.say(
        "Separation of duties, enforced on every decision: an approver is neither the requester "
        "nor the registrant; one person fills one role per request; the role must be held in "
        f"the roster; break-glass promotions need {', '.join(policy.break_glass_roles)} and "
        "open a mandatory retro-review."
    )
    verified = draft.need(
        "identity verified per decision (policy identity: totp)", policy.identity == "totp"
    )
    draft.say(
        f"Each approval is verified by a fresh {TOTP} for that decision."
        if verified
        else "The policy says `identity: none`: no approver's identity is verified."
    )
    loaded = {e.details.get("digest"): e for e in records.context_of("policy.loaded")}
    versions = _policy_versions(records)
    cited = [loaded[v] for v in versions if v in loaded]
    draft.need("the policy versions recorded (policy.loaded)", len(cited) == len(versions))
    draft.table(
        "Policy versions in force",
        ["policy version", "recorded by event"],
        [[v[:12], f"#{loaded[v].seq}" if v in loaded else "not in the trail"] for v in versions],
    )
    draft.cite(*(sources.policy(v) for v in versions), *(sources.event(e) for e in cited))
    refused = records.of_type("approval.refused")
    if refused:
        draft.table(
            "Refused approval attempts",
            ["event", "when", "who", "role", "reason"],
            [
                [
                    f"#{e.seq}",
                    e.ts[:16],
                    e.details.get("approver", e.actor),
                    e.details.get("role"),
                    e.details.get("reason"),
                ]
                for e in refused
            ],
        )
        draft.cite(*(sources.event(e) for e in refused))
    return draft.item()


def _holders(records: VersionRecords, needed: dict[str, int]) -> str:
    roster = records.policy.roster
    return "; ".join(
        f"{role}: {', '.join(sorted(p for p, held in roster.items() if role in held)) or 'nobody'}"
        for role in needed
    )


def _predetermined(records: VersionRecords) -> Item:
    draft = Draft("2(f)")
    policy = records.policy
    canary, blue_green = policy.canary, policy.blue_green
    draft.need("automatic rollout and rollback rules (policy)", True)
    draft.say(
        f"Canary rollouts step through {canary.steps}% of traffic, bake {canary.bake_minutes} "
        f"minutes per step, and roll back automatically when the canary's error rate exceeds "
        f"stable's by more than {canary.max_error_rate_increase:.1%}, its accuracy drops by "
        f"more than {canary.max_accuracy_drop:.1%}, or its p95 latency grows by more than "
        f"{canary.latency_min_effect:.0%} (one-sided tests at alpha {canary.alpha})."
    )
    draft.say(
        f"Blue/green switches smoke-test {blue_green.smoke_rows} rows on the idle slot first "
        f"and keep the old slot warm for {blue_green.scale_down_delay_minutes} minutes."
    )
    draft.cite(sources.policy(policy.version))
    sources.provided_field(draft, records, "predetermined_changes", "Pre-determined changes")
    return draft.item()


def _testing(records: VersionRecords) -> Item:
    draft = Draft("2(g)")
    evaluated = records.of_type("model.evaluated")
    if draft.need("evaluation reports (model.evaluated)", bool(evaluated)):
        draft.table(
            "Evaluations (test logs)",
            ["event", "when", "by", "dataset", "gate", "metrics", "run"],
            [_evaluation_row(e) for e in evaluated],
        )
        draft.cite(*(sources.event(e) for e in evaluated))
    for run in records.evaluations[-1:]:
        draft.table(
            f"Gate checks of the latest evaluation ({run.created_at:%Y-%m-%d})",
            ["check", "observed", "limit", "passed", "reason"],
            [
                [c.name, _num(c.observed), _num(c.limit), "yes" if c.passed else "NO", c.reason]
                for c in run.decision.checks
            ],
        )
        draft.cite(sources.evaluation(run))
    decided = records.of_type("approval.decided")
    if draft.need("decisions by verified people (approval.decided)", bool(decided)):
        draft.table(
            "Decisions, dated and signed (each event is MACed in the chain; this pack is signed)",
            DECISION_HEADER,
            decision_rows(records)[1],
        )
        draft.cite(*(sources.event(e) for e in decided))
        draft.cite(*(sources.event(e) for e in _enrolments(records, decided)))
        for found in records.of_type("approval.requested"):
            draft.cite(
                sources.request(
                    found.details.get("request_id", ""), found.details.get("evidence_digest")
                )
            )
        unverified = [e for e in decided if not e.details.get("verified")]
        draft.need("every decision verified", not unverified)
    outcomes = records.of_type("approval.approved", "approval.rejected", "approval.cancelled")
    draft.cite(*(sources.event(e) for e in outcomes))
    return draft.item()


def _evaluation_row(found: AuditEvent) -> list[str]:
    details = found.details
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted((details.get("metrics") or {}).items()))
    gate = "passed" if details.get("passed") else "FAILED"
    return [
        f"#{found.seq}",
        found.ts[:16],
        found.actor,
        f"{details.get('dataset', '')} ({str(details.get('dataset_digest', ''))[:12]})",
        gate,
        metrics,
        str(details.get("run_id", "")),
    ]


DECISION_HEADER = ["event", "when", "approver", "role", "decision", "verified by", "request"]


def decision_rows(records: VersionRecords) -> tuple[list[str], list[list[str]]]:
    """Every decision on the version (approval.decided), with how its approver was verified."""
    return DECISION_HEADER, [_decision_row(records, e) for e in records.of_type("approval.decided")]


def _decision_row(records: VersionRecords, found: AuditEvent) -> list[str]:
    details = found.details
    approver = details.get("approver", found.actor)
    return [
        f"#{found.seq}",
        found.ts[:16],
        approver,
        str(details.get("role", "")),
        str(details.get("decision", "")),
        _verification(records, approver, found) if details.get("verified") else "not verified",
        str(details.get("request_id", "")),
    ]


def _enrolment(records: VersionRecords, person: str, decision: AuditEvent) -> AuditEvent | None:
    """The enrolment of `person`'s authenticator in force when they decided."""
    enrolled = [
        e
        for e in records.context_of("person.enrolled")
        if e.details.get("name") == person and e.seq < decision.seq
    ]
    return enrolled[-1] if enrolled else None


def _enrolments(records: VersionRecords, decided: list[AuditEvent]) -> list[AuditEvent]:
    found = [
        _enrolment(records, e.details.get("approver", e.actor), e)
        for e in decided
        if e.details.get("verified")
    ]
    return [e for e in found if e is not None]


def _verification(records: VersionRecords, person: str, decision: AuditEvent) -> str:
    enrolled = _enrolment(records, person, decision)
    if enrolled is None:
        return TOTP
    return f"{TOTP}; authenticator enrolled {enrolled.ts[:10]} (event #{enrolled.seq})"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
