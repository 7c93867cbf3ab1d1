"""Model card documents: Markdown, HTML, JSON, a Hugging Face README and a CycloneDX ML-BOM.

Markdown and HTML are drawn from one list of sections built here, so both show the
same facts in the same order; each template in `templates/` only decides how a block looks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import jinja2
import yaml

from governance.domain.cards import ModelCard, card_hash, parse_card
from governance.domain.errors import MalformedCard

CYCLONEDX_SPEC_VERSION = "1.6"


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


def _number(value: float) -> str:
    return f"{round(value, 4):g}"


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return _number(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _text(title: str, value: str) -> Block:
    return Block("text", title, text=value)


def _bullets(title: str, items: Iterable[str]) -> Block:
    return Block("list", title, items=tuple(items))


def _facts(facts: dict[str, Any]) -> Block:
    rows = tuple((label, _plain(value)) for label, value in facts.items())
    return Block("table", header=("Field", "Value"), rows=rows)


def _group_table(card: ModelCard) -> Block:
    """Per-group metrics as one table: a row per group, a column per metric seen in any group."""
    metrics = sorted({m for values in card.performance_by_group.values() for m in values})
    rows = tuple(
        (group, *(_number(values[m]) if m in values else "-" for m in metrics))
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
    params = tuple((k, _plain(v)) for k, v in sorted(card.hyperparameters.items()))
    hyperparameters = Block("table", "Hyperparameters", header=("Name", "Value"), rows=params)
    return _section("Training", _facts(facts), hyperparameters)


def _performance(card: ModelCard) -> Section:
    rows = tuple((k, _number(v)) for k, v in sorted(card.evaluation_metrics.items()))
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


def _markdown_cell(value: str) -> str:
    # a pipe or a line break inside a cell would end the cell or the row
    return " ".join(value.replace("|", "\\|").split())


def _markdown_text(value: Any) -> str:
    # Markdown viewers pass raw HTML through, so angle brackets from card text are neutralised
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def _environment(**options: Any) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("governance.reports", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
    env.filters["cell"] = _markdown_cell
    return env


_MARKDOWN = _environment(autoescape=False, finalize=_markdown_text)
# autoescape is on so that markup typed into a card is shown as text, never run
_HTML = _environment(autoescape=True)


def _title(card: ModelCard) -> str:
    return " ".join(part for part in (card.name or "unnamed model", card.version) if part)


def render_markdown(
    card: ModelCard, *, stage: str | None = None, card_hash: str | None = None
) -> str:
    """The whole card as Markdown: a heading per section, tables for metrics and groups."""
    return _MARKDOWN.get_template("model_card.md.j2").render(
        title=_title(card), stage=stage, card_hash=card_hash, sections=card_sections(card)
    )


def render_html(card: ModelCard, *, stage: str | None = None, card_hash: str | None = None) -> str:
    """The whole card as a standalone HTML page, with every card value escaped."""
    return _HTML.get_template("model_card.html.j2").render(
        title=_title(card), stage=stage, card_hash=card_hash, sections=card_sections(card)
    )


def render_json(card: ModelCard) -> str:
    """The card as pretty JSON with sorted keys; parse_card(json.loads(...)) gives it back."""
    return json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)


def render_huggingface_readme(
    card: ModelCard, *, license: str | None = None, task_type: str = "other"
) -> str:
    """A Hugging Face README: YAML front matter (tags, model-index metrics) then the card."""
    meta: dict[str, Any] = {}
    if license:
        meta["license"] = license
    meta["tags"] = ["model-card", *([f"risk-{card.risk_level.value}"] if card.risk_level else [])]
    if card.evaluation_metrics:
        dataset = card.training_data_version or "evaluation"
        meta["model-index"] = [
            {
                "name": card.name or "unnamed model",
                "results": [
                    {
                        "task": {"type": task_type},
                        "dataset": {"type": dataset, "name": dataset},
                        "metrics": [
                            {"type": k, "name": k, "value": v}
                            for k, v in sorted(card.evaluation_metrics.items())
                        ],
                    }
                ],
            }
        ]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{render_markdown(card)}"


def _performance_metrics(card: ModelCard) -> list[dict[str, str]]:
    overall = [{"type": k, "value": _number(v)} for k, v in sorted(card.evaluation_metrics.items())]
    sliced = [
        {"type": metric, "value": _number(value), "slice": group}
        for group, values in sorted(card.performance_by_group.items())
        for metric, value in sorted(values.items())
    ]
    figures = {"hallucination_rate": card.hallucination_rate, "latency_p95_ms": card.latency_p95_ms}
    llm = [{"type": k, "value": _number(v)} for k, v in figures.items() if v is not None]
    return overall + sliced + llm


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
            (f"governance:hyperparameter:{k}", _plain(v))
            for k, v in sorted(card.hyperparameters.items())
        ),
    ]
    return [{"name": name, "value": value} for name, value in facts if value]


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
        "bomFormat": "CycloneDX",
        "specVersion": CYCLONEDX_SPEC_VERSION,
        # derived from the card hash so the same card always gives the same BOM
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"model-card:{digest}").urn,
        "version": 1,
        "components": [component],
    }


class _CardLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice, which PyYAML would silently overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising a marked error on the first repeated key."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges are flattened by the base class; explicit keys override
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base constructor reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint with where it was found and, if known, where the construct began."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context", None)
    text = f"{_at(mark)}: {problem}" if mark else problem
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark:
        text += f" ({context} at {_at(context_mark)})"
    return text


def load_card_yaml(text: str) -> ModelCard:
    """Parse a YAML model card, raising MalformedCard for bad YAML, non-mappings or bad fields."""
    try:
        data = yaml.load(text, Loader=_CardLoader)
    except yaml.YAMLError as exc:
        raise MalformedCard(f"malformed model card YAML: {_yaml_problem(exc)}") from None
    if data is None:
        raise MalformedCard("malformed model card YAML: the document is empty")
    if not isinstance(data, dict):
        raise MalformedCard(
            f"malformed model card YAML: expected a mapping of fields, got {type(data).__name__}"
        )
    return parse_card(data)
