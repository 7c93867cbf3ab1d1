"""Model card documents: Markdown, HTML, JSON, a Hugging Face README and a CycloneDX ML-BOM.

Markdown and HTML are drawn from one list of sections (`card_sections`), so both show the
same facts in the same order; each template in `templates/` only decides how a block looks.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml

from governance.domain.cards import ModelCard, card_hash
from governance.reports.card_sections import card_sections, plain
from governance.reports.rendering import HTML, MARKDOWN

CYCLONEDX_SPEC_VERSION = "1.6"
# The schema a BOM names, so that editors and validators check it against the right version.
CYCLONEDX_SCHEMA = f"http://cyclonedx.org/schema/bom-{CYCLONEDX_SPEC_VERSION}.schema.json"


def _title(card: ModelCard) -> str:
    return " ".join(part for part in (card.name or "unnamed model", card.version) if part)


def render_markdown(
    card: ModelCard, *, stage: str | None = None, card_hash: str | None = None
) -> str:
    """The whole card as Markdown: a heading per section, tables for metrics and groups."""
    return MARKDOWN.get_template("model_card.md.j2").render(
        title=_title(card), stage=stage, card_hash=card_hash, sections=card_sections(card)
    )


def render_html(card: ModelCard, *, stage: str | None = None, card_hash: str | None = None) -> str:
    """The whole card as a standalone HTML page, with every card value escaped."""
    return HTML.get_template("model_card.html.j2").render(
        title=_title(card), stage=stage, card_hash=card_hash, sections=card_sections(card)
    )


def render_json(card: ModelCard) -> str:
    """The card as pretty JSON with sorted keys; parse_card(json.loads(...)) gives it back."""
    return json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)


def reported_metrics(card: ModelCard) -> list[tuple[str, float]]:
    """The card's overall figures as (name, value): its metrics by name, then its LLM figures."""
    figures = {"hallucination_rate": card.hallucination_rate, "latency_p95_ms": card.latency_p95_ms}
    llm = [(name, value) for name, value in figures.items() if value is not None]
    return [*sorted(card.evaluation_metrics.items()), *llm]


def _model_index(card: ModelCard, task_type: str) -> list[dict[str, Any]]:
    # Keys in the order huggingface_hub writes them, so a card it loads and saves again is
    # byte-for-byte the README we wrote (no diff when a Hub tool rewrites the metadata).
    dataset = card.training_data_version or "evaluation"
    metrics = [{"type": k, "value": v, "name": k} for k, v in reported_metrics(card)]
    result = {"task": {"type": task_type}, "dataset": {"name": dataset, "type": dataset}}
    return [{"name": card.name or "unnamed model", "results": [{**result, "metrics": metrics}]}]


def render_huggingface_readme(
    card: ModelCard, *, license: str | None = None, task_type: str = "other"
) -> str:
    """A Hugging Face README: YAML front matter (tags, model-index metrics) then the card."""
    meta: dict[str, Any] = {}
    if license:
        meta["license"] = license
    meta["tags"] = ["model-card", *([f"risk-{card.risk_level.value}"] if card.risk_level else [])]
    if reported_metrics(card):
        meta["model-index"] = _model_index(card, task_type)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{render_markdown(card)}"


def _exact(value: float) -> str:
    """A figure as a string that parses back to the same float (the BOM's values are strings)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _performance_metrics(card: ModelCard) -> list[dict[str, str]]:
    # exact, not rounded as the readable card shows them: a BOM is read by programs
    overall = [{"type": k, "value": _exact(v)} for k, v in reported_metrics(card)]
    sliced = [
        {"type": metric, "value": _exact(value), "slice": group}
        for group, values in sorted(card.performance_by_group.items())
        for metric, value in sorted(values.items())
    ]
    return overall + sliced


def _considerations(card: ModelCard) -> dict[str, Any]:
    considerations: dict[str, Any] = {
        "users": list(card.primary_users),
        "useCases": [card.intended_use] if card.intended_use else [],
        "technicalLimitations": list(card.known_limitations),
    }
    if card.ethical_considerations:
        considerations["ethicalConsiderations"] = [{"name": card.ethical_considerations}]
    if card.fairness_assessment:
        groups = ", ".join(sorted(card.performance_by_group)) or "all affected groups"
        considerations["fairnessAssessments"] = [
            {"groupAtRisk": groups, "harms": card.fairness_assessment}
        ]
    return considerations


def _properties(card: ModelCard, digest: str) -> list[dict[str, str]]:
    facts = [
        ("governance:card_hash", digest),
        ("governance:model_id", card.model_id or ""),
        ("governance:risk_level", card.risk_level.value if card.risk_level else ""),
        ("governance:team", card.team),
        ("governance:base_model", card.base_model),
        ("governance:data_volume", card.data_volume),
        ("governance:pii_handling", card.pii_handling),
        ("governance:training_pipeline", card.training_pipeline),
        ("governance:review_schedule", card.review_schedule),
        ("governance:retirement_criteria", card.retirement_criteria.describe()),
        *(("governance:out_of_scope_use", use) for use in card.out_of_scope_uses),
        *(
            (f"governance:hyperparameter:{k}", plain(v))
            for k, v in sorted(card.hyperparameters.items())
        ),
    ]
    return [{"name": name, "value": value} for name, value in facts if value]


def _serial_number(digest: str, artifact_digest: str | None) -> str:
    # Derived from what the BOM states, so the same card and artifact always give the same
    # BOM, and a BOM that states another artifact never shares its serial number.
    seed = f"model-card:{digest}" + (f":artifact:{artifact_digest}" if artifact_digest else "")
    return uuid.uuid5(uuid.NAMESPACE_URL, seed).urn


def render_cyclonedx(card: ModelCard, *, artifact_digest: str | None = None) -> dict[str, Any]:
    """A CycloneDX 1.6 ML-BOM whose one component is the model, hashed by its artifact digest."""
    digest = card_hash(card)
    component: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": f"{card.name}@{card.version}",
        "name": card.name,
        "version": card.version,
        "description": card.intended_use,
    }
    if card.owner:
        component["authors"] = [{"name": card.owner}]
    if artifact_digest:
        component["hashes"] = [{"alg": "SHA-256", "content": artifact_digest}]
    component["modelCard"] = {
        "modelParameters": {
            "datasets": [
                {
                    "type": "dataset",
                    "name": card.training_data_version or "training data",
                    "description": card.training_data_description,
                }
            ]
        },
        "quantitativeAnalysis": {"performanceMetrics": _performance_metrics(card)},
        "considerations": _considerations(card),
    }
    component["properties"] = _properties(card, digest)
    return {
        "$schema": CYCLONEDX_SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": CYCLONEDX_SPEC_VERSION,
        "serialNumber": _serial_number(digest, artifact_digest),
        "version": 1,
        "components": [component],
    }
