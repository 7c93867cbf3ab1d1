"""Model card documents: Markdown, HTML, JSON, Hugging Face README, CycloneDX and YAML loading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from governance.domain.cards import ModelCard, card_hash, parse_card, require_complete
from governance.domain.errors import MalformedCard
from governance.domain.models import LifecycleStage
from governance.reports.card_yaml import load_card_yaml
from governance.reports.model_card import (
    render_cyclonedx,
    render_html,
    render_huggingface_readme,
    render_json,
    render_markdown,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cards" / "churn-classifier.yaml"
SECTIONS = ("Identity", "Purpose", "Training", "Performance", "Risk and ethics", "Governance")
INJECTED = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def card() -> ModelCard:
    """The shipped example card."""
    return load_card_yaml(EXAMPLE.read_text(encoding="utf-8"))


def test_example_card_is_complete_for_production_at_its_risk(card: ModelCard) -> None:
    assert card.risk_level is not None
    assert card.risk_level.value == "high"
    assert require_complete(card, LifecycleStage.production, card.risk_level) is card


def test_markdown_has_every_section_and_metric(card: ModelCard) -> None:
    text = render_markdown(card)
    assert text.startswith(f"# Model card: {card.name} {card.version}\n")
    for section in SECTIONS:
        assert f"\n## {section}\n" in text
    for metric in card.evaluation_metrics:
        assert f"| {metric} |" in text
    assert f"| {card.intended_use[:40]}" not in text  # prose is a paragraph, not a table cell
    assert card.intended_use in text


def test_markdown_group_table_has_a_row_per_group_and_column_per_metric(
    card: ModelCard,
) -> None:
    text = render_markdown(card)
    metrics = sorted({m for values in card.performance_by_group.values() for m in values})
    assert f"| Group | {' | '.join(metrics)} |" in text
    for group, values in card.performance_by_group.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {group} |"))
        assert row.count("|") == len(metrics) + 2
        assert f"{values['roc_auc']:g}" in row


def test_markdown_shows_stage_and_hash_when_given(card: ModelCard) -> None:
    digest = card_hash(card)
    text = render_markdown(card, stage="production", card_hash=digest)
    assert "Stage: **production**" in text
    assert f"`{digest}`" in text
    assert "Stage:" not in render_markdown(card)


def test_markdown_keeps_tables_whole_and_html_inert() -> None:
    card = parse_card(
        {
            "intended_use": INJECTED,
            "performance_by_group": {"a|b\nc": {"auc": 0.5}},
        }
    )
    text = render_markdown(card)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "| a\\|b c | 0.5 |" in text


def test_markdown_says_when_nothing_is_stated() -> None:
    text = render_markdown(ModelCard())
    assert "# Model card: unnamed model\n" in text
    assert "None stated." in text
    assert "None recorded." in text


def test_html_is_a_standalone_page_with_every_section(card: ModelCard) -> None:
    page = render_html(card, stage="staging", card_hash=card_hash(card))
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page
    assert card_hash(card) in page
    for metric in card.evaluation_metrics:
        assert f"<td>{metric}</td>" in page


def test_html_escapes_injected_markup(card: ModelCard) -> None:
    hostile = card.model_copy(
        update={"intended_use": INJECTED, "known_limitations": ["<b>bold</b>"], "name": "<i>"}
    )
    page = render_html(hostile)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page
    assert "<i>" not in page


def test_json_round_trips_to_an_equal_card(card: ModelCard) -> None:
    text = render_json(card)
    again = parse_card(json.loads(text))
    assert again == card
    assert card_hash(again) == card_hash(card)


def test_json_is_pretty_and_sorted(card: ModelCard) -> None:
    text = render_json(card)
    keys = list(json.loads(text))
    assert keys == sorted(keys)
    assert "\n  " in text


def split_front_matter(readme: str) -> tuple[dict, str]:
    """The README's YAML front matter, parsed, and the body after it."""
    assert readme.startswith("---\n")
    front, body = readme[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def test_huggingface_front_matter_parses_and_carries_metrics(card: ModelCard) -> None:
    meta, body = split_front_matter(render_huggingface_readme(card, license="apache-2.0"))
    assert meta["license"] == "apache-2.0"
    assert "risk-high" in meta["tags"]
    [entry] = meta["model-index"]
    assert entry["name"] == card.name
    metrics = {m["type"]: m["value"] for m in entry["results"][0]["metrics"]}
    assert metrics == card.evaluation_metrics
    assert "## Performance" in body


def test_huggingface_front_matter_omits_what_is_not_known() -> None:
    meta, _ = split_front_matter(render_huggingface_readme(ModelCard()))
    assert "license" not in meta
    assert "model-index" not in meta


def test_cyclonedx_describes_the_model_with_its_digest(card: ModelCard) -> None:
    digest = hashlib.sha256(b"model bytes").hexdigest()
    bom = render_cyclonedx(card, artifact_digest=digest)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    [component] = bom["components"]
    assert component["type"] == "machine-learning-model"
    assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
    model_card = component["modelCard"]
    metrics = model_card["quantitativeAnalysis"]["performanceMetrics"]
    overall = {m["type"]: m["value"] for m in metrics if "slice" not in m}
    assert set(overall) == set(card.evaluation_metrics)
    assert {m["slice"] for m in metrics if "slice" in m} == set(card.performance_by_group)
    considerations = model_card["considerations"]
    assert considerations["users"] == card.primary_users
    assert considerations["technicalLimitations"] == card.known_limitations
    assert considerations["ethicalConsiderations"][0]["name"] == card.ethical_considerations
    assert considerations["fairnessAssessments"][0]["harms"] == card.fairness_assessment
    json.dumps(bom)  # the BOM must serialise as plain JSON


def test_cyclonedx_serial_follows_the_card(card: ModelCard) -> None:
    first = render_cyclonedx(card)
    assert render_cyclonedx(card)["serialNumber"] == first["serialNumber"]
    changed = card.model_copy(update={"version": "2.3.1"})
    assert render_cyclonedx(changed)["serialNumber"] != first["serialNumber"]
    assert "hashes" not in first["components"][0]
    properties = {p["name"]: p["value"] for p in first["components"][0]["properties"]}
    assert properties["governance:card_hash"] == card_hash(card)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(MalformedCard) as caught:
        load_card_yaml("name: churn\nversion: [1.0.0\nowner: ada\n")
    message = str(caught.value)
    assert message.startswith("malformed model card YAML: line 3, column 6: ")
    assert "flow sequence at line 2, column 10" in message


def test_yaml_list_document_is_refused() -> None:
    with pytest.raises(MalformedCard, match="expected a mapping of fields, got list"):
        load_card_yaml("- name: churn\n")


def test_empty_yaml_is_refused() -> None:
    with pytest.raises(MalformedCard, match="empty"):
        load_card_yaml("# nothing here\n")


def test_duplicate_yaml_key_is_refused_not_overwritten() -> None:
    with pytest.raises(MalformedCard, match=r"line 3, column 1: duplicate key 'name'"):
        load_card_yaml("name: churn\nowner: ada\nname: other\n")


def test_yaml_with_bad_field_reports_the_field() -> None:
    with pytest.raises(MalformedCard, match="unknown field 'riskLevel'"):
        load_card_yaml("name: churn\nriskLevel: high\n")


def test_yaml_unquoted_float_version_is_refused() -> None:
    with pytest.raises(MalformedCard, match="version: Input should be a valid string"):
        load_card_yaml("name: churn\nversion: 1.0\n")


def test_yaml_merge_keys_still_work() -> None:
    text = "base: &b {roc_auc: 0.9}\n"
    with pytest.raises(MalformedCard, match="unknown field 'base'"):
        load_card_yaml(text + "evaluation_metrics: {<<: *b, accuracy: 0.8}\n")
    groups = "performance_by_group:\n  a: &g {auc: 0.7}\n  b: {<<: *g, auc: 0.6}\n"
    card = load_card_yaml(groups)
    assert card.performance_by_group == {"a": {"auc": 0.7}, "b": {"auc": 0.6}}


def test_yaml_python_tags_are_refused_not_executed() -> None:
    with pytest.raises(MalformedCard, match="could not determine a constructor"):
        load_card_yaml("name: !!python/object/apply:os.getcwd []\n")
