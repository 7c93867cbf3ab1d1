"""The approval form of a prompt promotion: the diff against production, the gate, the facts."""

from __future__ import annotations

import re

from governance.domain.approvals import ApprovalRequest, active_approvals, missing_roles
from governance.domain.identity import NOT_VERIFIED
from governance.domain.prompt_gate import PromptGateDecision, prompt_gate_markdown
from governance.domain.prompt_suites import SuiteResult
from governance.reports.approval_form import _cell, grouped_digest

# Prefect's form description is Markdown; a diff this long is cut so the form stays usable.
MAX_DIFF_LINES = 200


def prompt_form_markdown(
    request: ApprovalRequest,
    diff: str,
    decision: PromptGateDecision,
    candidate: SuiteResult,
    production: SuiteResult | None,
    *,
    refusal: str = "",
) -> str:
    """Everything an approver of a prompt needs, the change itself first."""
    needed = ", ".join(f"{role} ({n})" for role, n in missing_roles(request).items()) or "none"
    done = ", ".join(f"{a.approver} as {a.role}" for a in active_approvals(request)) or "none yet"
    unverified = request.identity == "none"
    how = (
        "Type your roster name; no one-time code is checked."
        if unverified
        else "Type your roster name and the current 6-digit one-time code from your "
        "authenticator app; each code is accepted once."
    )
    lines = diff.splitlines()
    shown = lines[:MAX_DIFF_LINES]
    cut = len(lines) - len(shown)
    production_now = request.evidence.get("incumbent_version", "none")
    # A template may hold backticks: the fence must be longer than any run of them.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", diff)), default=0))
    return "\n".join(
        [
            f"# Put prompt {request.model_name} {request.version} in production?",
            "",
            *([f"> **{NOT_VERIFIED.capitalize()}** (policy `identity: none`).", ""]
              if unverified else []),
            *([f"> **Previous input refused:** {_cell(refusal)}", ""] if refusal else []),
            how,
            "",
            "| | |",
            "| --- | --- |",
            f"| Requested by | {_cell(request.requested_by)} |",
            f"| Registered by | {_cell(request.version_created_by)} |",
            f"| Roles still needed | {needed} |",
            f"| Approved so far | {_cell(done)} |",
            f"| Request expires | {request.expires_at:%Y-%m-%d %H:%M} UTC |",
            f"| Evidence digest | `{grouped_digest(request.evidence_digest)}` |",
            f"| Production now | {_cell(production_now)} |",
            f"| Template digest | `{request.evidence.get('template_digest', '')[:12]}` |",
            f"| Suite digest | `{request.evidence.get('suite_digest', '')[:12]}` |",
            "",
            f"## The change against production ({production_now})",
            "",
            f"{fence}diff",
            *shown,
            *([f"... {cut} more lines (see `governance prompts diff`)"] if cut else []),
            fence,
            "",
            prompt_gate_markdown(decision, candidate, production),
            "",
            "Approving binds your decision to the evidence digest above: if the template, the "
            "suite, the evaluation, the production version or the policy changes before the "
            "pointer moves, every approval is void.",
        ]
    )  # fmt: skip
