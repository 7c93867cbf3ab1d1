"""The Markdown an approver reads on the resume form: the evidence behind one request."""

from __future__ import annotations

from governance.domain.approvals import ApprovalRequest, active_approvals, missing_roles
from governance.domain.cards import ModelCard, card_highlights
from governance.domain.evaluation import EvaluationResult, GateDecision
from governance.domain.gate_report import gate_report_markdown
from governance.domain.identity import NOT_VERIFIED
from governance.domain.models import RegisteredModel


def _cell(text: str) -> str:
    # Card text is user input: keep it from breaking the table or injecting HTML.
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def grouped_digest(digest: str) -> str:
    """A hex digest in groups of 16, so a narrow form can wrap it and eyes can compare it."""
    return " ".join(digest[i : i + 16] for i in range(0, len(digest), 16))


def approval_form_markdown(
    request: ApprovalRequest,
    model: RegisteredModel,
    card: ModelCard,
    decision: GateDecision,
    result: EvaluationResult,
    *,
    refusal: str = "",
) -> str:
    """Everything an approver needs before deciding, most important first."""
    lines = [
        *form_head(request, model, refusal=refusal),
        *card_highlight_lines(card),
        "",
        gate_report_markdown(decision, result),
        "Approving binds your decision to the evidence digest above: if the artifact, card, "
        "evaluation, production version or policy changes before deployment, every approval "
        "is void.",
    ]
    return "\n".join(lines) + "\n"


def form_head(request: ApprovalRequest, model: RegisteredModel, *, refusal: str = "") -> list[str]:
    """The question, how to answer, and the request's facts: the top of every model's form."""
    needed = ", ".join(f"{role} ({n})" for role, n in missing_roles(request).items()) or "none"
    done = ", ".join(f"{a.approver} as {a.role}" for a in active_approvals(request)) or "none yet"
    unverified = request.identity == "none"
    warning = f"> **{NOT_VERIFIED.capitalize()}** (policy `identity: none`): throwaway use only."
    how = (
        "Type your roster name; no one-time code is checked."
        if unverified
        else "Type your roster name and the current 6-digit one-time code from your "
        "authenticator app; each code is accepted once."
    )
    return [
        f"# Approve {request.model_name} {request.version} for {request.target_stage.value}?",
        "",
        *([warning, ""] if unverified else []),
        *([f"> **Previous input refused:** {_cell(refusal)}", ""] if refusal else []),
        how,
        "",
        "| | |",
        "| --- | --- |",
        f"| Requested by | {_cell(request.requested_by)}"
        f"{' (not verified)' if unverified else ' (verified)'} |",
        f"| Registered by | {_cell(request.version_created_by)} |",
        f"| Risk level | **{model.risk_level.value}** |",
        f"| Roles still needed | {needed} |",
        f"| Approved so far | {_cell(done)} |",
        f"| Request expires | {request.expires_at:%Y-%m-%d %H:%M} UTC |",
        f"| Evidence digest | `{grouped_digest(request.evidence_digest)}` |",
        f"| Production now | {_cell(request.evidence.get('incumbent_version', 'none'))} |",
        f"| Policy version | `{request.policy_version[:12]}` |",
        "",
    ]


def card_highlight_lines(card: ModelCard) -> list[str]:
    """The card's highlights as a two-column table under its heading."""
    return [
        "## Model card highlights",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {label} | {_cell(text)} |" for label, text in card_highlights(card).items()),
    ]
