"""A model card as ordered sections of blocks, which the Markdown and HTML templates both draw.

Both renderings show the same facts in the same order; each template in `templates/` only
decides how a block looks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from governance.domain.cards import ModelCard


@dataclass(frozen=True)
class Block:
    """One titled piece of a section: a paragraph, a bullet list or a table."""

    kind: str
    title: str = ""
    text: str = ""
    items: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Section:
    """A headed part of the card: identity, purpose, training, and so on."""

    title: str
    blocks: tuple[Block, ...]


def number(value: float) -> str:
    """A figure as cards show it: at most four decimals, no trailing zeros."""
    return f"{round(value, 4):g}"


def plain(value: Any) -> str:
    """A card field as one line of text: "-" when empty, JSON for structures."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return number(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _text(title: str, value: str) -> Block:
    return Block("text", title, text=value)


def _bullets(title: str, items: Iterable[str]) -> Block:
    return Block("list", title, items=tuple(items))


def _facts(facts: dict[str, Any]) -> Block:
    rows = tuple((label, plain(value)) for label, value in facts.items())
    return Block("table", header=("Field", "Value"), rows=rows)


def _group_table(card: ModelCard) -> Block:
    """Per-group metrics as one table: a row per group, a column per metric seen in any group."""
    metrics = sorted({m for values in card.performance_by_group.values() for m in values})
    rows = tuple(
        (group, *(number(values[m]) if m in values else "-" for m in metrics))
        for group, values in sorted(card.performance_by_group.items())
    )
    return Block("table", "Performance by group", header=("Group", *metrics), rows=rows)


def _section(title: str, *blocks: Block) -> Section:
    return Section(title, blocks)


def _stated(facts: dict[str, Any]) -> dict[str, Any]:
    """The LLM facts a card states; an ML card states none, so its rendering stays as it was."""
    return {label: value for label, value in facts.items() if value not in ("", None)}


def _identity(card: ModelCard) -> Section:
    facts = {"Name": card.name, "Version": card.version, "Model id": card.model_id}
    facts |= {"Owner": card.owner, "Team": card.team, **_stated({"Base model": card.base_model})}
    return _section("Identity", _facts(facts))


def _purpose(card: ModelCard) -> Section:
    return _section(
        "Purpose",
        _text("Intended use", card.intended_use),
        _bullets("Out-of-scope uses", card.out_of_scope_uses),
        _bullets("Primary users", card.primary_users),
    )


def _training(card: ModelCard) -> Section:
    facts = {
        "Data description": card.training_data_description,
        "Data version": card.training_data_version,
        "Training date": card.training_date,
        "Pipeline": card.training_pipeline,
        **_stated({"Data volume": card.data_volume, "PII handling": card.pii_handling}),
    }
    params = tuple((k, plain(v)) for k, v in sorted(card.hyperparameters.items()))
    hyperparameters = Block("table", "Hyperparameters", header=("Name", "Value"), rows=params)
    return _section("Training", _facts(facts), hyperparameters)


def _performance(card: ModelCard) -> Section:
    rows = tuple((k, number(v)) for k, v in sorted(card.evaluation_metrics.items()))
    metrics = Block("table", "Evaluation metrics", header=("Metric", "Value"), rows=rows)
    limitations = _bullets("Known limitations", card.known_limitations)
    llm = _stated(_llm_figures(card))
    blocks = (metrics, _group_table(card), *([_facts(llm)] if llm else []), limitations)
    return _section("Performance", *blocks)


def _llm_figures(card: ModelCard) -> dict[str, Any]:
    return {
        "Hallucination rate": card.hallucination_rate,
        "Latency p95 (ms)": card.latency_p95_ms,
    }


def _risk(card: ModelCard) -> Section:
    return _section(
        "Risk and ethics",
        _text("Risk level", card.risk_level.value if card.risk_level else ""),
        _text("Ethical considerations", card.ethical_considerations),
        _text("Fairness assessment", card.fairness_assessment),
    )


def _governance(card: ModelCard) -> Section:
    facts = {
        "Approved by": ", ".join(card.approved_by),
        "Approval date": card.approval_date,
        "Review schedule": card.review_schedule,
        "Retirement criteria": card.retirement_criteria.describe(),
    }
    return _section("Governance", _facts(facts))


def card_sections(card: ModelCard) -> list[Section]:
    """The card as ordered sections, shared by the Markdown and HTML renderings."""
    return [
        build(card) for build in (_identity, _purpose, _training, _performance, _risk, _governance)
    ]
