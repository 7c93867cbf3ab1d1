"""The retirement review form: the verdict, every finding with its figures, and what each
answer does, so an approver decides on the evidence the audit saw."""

from __future__ import annotations

from pathlib import Path

from governance.domain.approvals import ApprovalRequest, missing_roles
from governance.domain.monitoring import AuditRow


def retirement_form_markdown(
    request: ApprovalRequest,
    audit: AuditRow,
    *,
    sunset_days: int,
    review_days: int,
    report: Path | None,
    refusal: str = "",
) -> str:
    """Everything an approver needs to retire a version (or keep it), most important first."""
    ref = f"{request.model_name}@{request.version}"
    needed = ", ".join(f"{role} ({n})" for role, n in missing_roles(request).items()) or "none"
    successor = audit.successor or "none: no version takes its traffic"
    lines = [
        f"## Retirement review: {ref}",
        "",
        f"**Verdict:** {audit.verdict}: {audit.reason}",
        "",
        f"- successor (takes its traffic): **{successor}**",
        f"- still needed: {needed}",
        f"- audit run `{audit.audit_run}`, checked {audit.checked_at:%Y-%m-%d %H:%M} UTC",
        f"- evidence digest `{request.evidence_digest[:16]}`",
        "",
        "| check | status | finding |",
        "|---|---|---|",
        *(
            f"| {f['check']} | {f['status']} | {str(f['message']).replace('|', '/')} |"
            for f in audit.findings
        ),
        "",
    ]
    if report is not None:
        lines += [f"Evidently drift report: `{report}`", ""]
    lines += [
        f"**Approve:** {ref} is deprecated with a sunset {sunset_days} days from now "
        "(rollback stays possible until then) and leaves every endpoint's routing in favour "
        "of its successor; retire-deprecated retires it after the sunset.",
        "",
        f"**Reject:** your notes are recorded as the reason and the audit retains {ref} "
        f"for {review_days} days, until its next review.",
    ]
    if refusal:
        lines += ["", f"> Last answer refused: {refusal}"]
    return "\n".join(lines)
