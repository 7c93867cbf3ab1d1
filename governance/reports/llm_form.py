"""The approval form of an LLM model version: its configuration, its card's claims, the gate."""

from __future__ import annotations

import json
from typing import Any

from governance.domain.approvals import ApprovalRequest
from governance.domain.cards import ModelCard
from governance.domain.evaluation import fmt_number
from governance.domain.models import RegisteredModel
from governance.domain.prompt_gate import PromptGateDecision, prompt_gate_markdown
from governance.domain.prompt_suites import SuiteResult
from governance.reports.approval_form import _cell, card_highlight_lines, form_head


def llm_form_markdown(
    request: ApprovalRequest,
    model: RegisteredModel,
    card: ModelCard,
    config: dict[str, Any],
    gate: tuple[PromptGateDecision, SuiteResult, SuiteResult | None],
    *,
    suite: str,
    refusal: str = "",
) -> str:
    """Everything an approver of an LLM version needs: request, configuration, card, gate."""
    decision, candidate, production = gate
    lines = [
        *form_head(request, model, refusal=refusal),
        *_configuration(request, config, suite),
        "",
        *card_highlight_lines(card),
        *_card_claims(card),
        "",
        prompt_gate_markdown(decision, candidate, production),
        "Approving binds your decision to the evidence digest above: if the configuration, "
        "card, evaluation, production version or policy changes before deployment, every "
        "approval is void.",
    ]
    return "\n".join(lines) + "\n"


def _configuration(request: ApprovalRequest, config: dict[str, Any], suite: str) -> list[str]:
    """What the version calls: provider, base model, parameters and the digest approvals bind."""
    parameters = config.get("parameters", config.get("params")) or {}
    prompt = config.get("prompt") or ("system prompt in the config" if config.get("system_prompt")
                                      else "the default system prompt")  # fmt: skip
    rows = {
        "Provider": str(config.get("provider", "")),
        "Base model": str(config.get("base_model", "")),
        "Parameters": json.dumps(parameters, sort_keys=True, ensure_ascii=False),
        "Prompt": str(prompt),
        "Suite": suite,
        "Config digest": f"`{request.evidence.get('artifact_digest', '')}`",
    }
    table = [f"| {label} | {_cell(value)} |" for label, value in rows.items()]
    return ["## LLM configuration", "", "| | |", "| --- | --- |", *table]


def _card_claims(card: ModelCard) -> list[str]:
    """The LLM card's facts; the last two are what the prompt gate held the version to."""
    claims = {
        "base model": card.base_model or "none stated",
        "data volume": card.data_volume or "none stated",
        "PII handling": card.pii_handling or "none stated",
        "hallucination rate": fmt_number(card.hallucination_rate),
        "latency p95 (ms)": fmt_number(card.latency_p95_ms),
    }
    return [f"| {label} | {_cell(text)} |" for label, text in claims.items()]
