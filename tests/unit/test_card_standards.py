"""The card exports held to the standard tools, not to our own reading of the standards.

huggingface_hub parses the Hugging Face README and converts its model-index to evaluation
results; cyclonedx-python-lib's strict validator checks the ML-BOM against the CycloneDX 1.6
schema. Every card in examples/cards/ is checked, so a new example is covered when added.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from huggingface_hub import ModelCard as HubModelCard
from huggingface_hub import ModelCardData
from huggingface_hub.repocard_data import model_index_to_eval_results

from governance.domain.cards import ModelCard, parse_card
from governance.reports.card_yaml import load_card_yaml
from governance.reports.model_card import (
    render_cyclonedx,
    render_huggingface_readme,
    render_markdown,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "cards").glob("*.yaml"))
ARTIFACT = hashlib.sha256(b"model bytes").hexdigest()
# Strings that YAML or Markdown would read as something else if they were written unquoted.
AWKWARD = {
    "name": "näive: model # v2",
    "version": "1.0.0-rc.1+build.7",
    "training_data_version": "yes",
    "evaluation_metrics": {"null": 1e20, "a: b": 0.1, "---": 2.0, "tiny": 1e-9},
    "performance_by_group": {"group|one": {"null": 0.25}},
    "hyperparameters": {"layers": [64, None], "opts": {"x": True}},
}


@pytest.fixture(scope="module")
def validator() -> JsonStrictValidator:
    """CycloneDX's strict JSON validator for the version the BOM declares (loaded once)."""
    return JsonStrictValidator(SchemaVersion.V1_6)


@pytest.fixture(params=EXAMPLES, ids=lambda path: path.name)
def example(request: pytest.FixtureRequest) -> ModelCard:
    """Each shipped example card, as the CLI loads it."""
    return load_card_yaml(request.param.read_text(encoding="utf-8"))


def expected_metrics(card: ModelCard) -> list[tuple[str, float]]:
    """What the exports must report, worked out here rather than by the renderer's helper."""
    llm = [("hallucination_rate", card.hallucination_rate), ("latency_p95_ms", card.latency_p95_ms)]
    return sorted(card.evaluation_metrics.items()) + [(k, v) for k, v in llm if v is not None]


def front_matter(readme: str) -> dict[str, Any]:
    """The README's YAML front matter, parsed."""
    return yaml.safe_load(readme[4:].split("\n---\n", 1)[0])


def test_the_examples_include_an_ml_card_and_an_llm_card() -> None:
    cards = [load_card_yaml(path.read_text(encoding="utf-8")) for path in EXAMPLES]
    assert {"churn-classifier.yaml", "support-assistant.yaml"} <= {p.name for p in EXAMPLES}
    assert any(card.base_model and card.hallucination_rate is not None for card in cards)
    assert any(not card.base_model for card in cards)


# Hugging Face


def test_huggingface_hub_parses_every_example_readme_into_its_metrics(
    example: ModelCard, tmp_path: Path
) -> None:
    readme = render_huggingface_readme(example, license="apache-2.0")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    hub = HubModelCard.load(tmp_path / "README.md")  # strict: a bad model-index raises
    assert hub.data.model_name == example.name
    assert hub.data.license == "apache-2.0"
    assert hub.data.tags == ["model-card", f"risk-{example.risk_level.value}"]
    results = hub.data.eval_results
    assert results, "a card with metrics must give evaluation results"
    reported = [(r.metric_type, r.metric_value) for r in results]
    assert reported == expected_metrics(example)
    assert all(r.metric_name == r.metric_type for r in results)
    dataset = example.training_data_version
    assert {(r.task_type, r.dataset_type, r.dataset_name) for r in results} == {
        ("other", dataset, dataset)
    }
    assert hub.text == "\n" + render_markdown(example)


def test_model_index_converts_to_eval_results_with_the_card_values(example: ModelCard) -> None:
    meta = front_matter(render_huggingface_readme(example))
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == example.name
    assert [(r.metric_type, r.metric_value) for r in results] == expected_metrics(example)


def test_card_data_round_trips_and_the_hub_rewrites_the_readme_unchanged(
    example: ModelCard,
) -> None:
    readme = render_huggingface_readme(example, license="mit")
    meta = front_matter(readme)
    assert ModelCardData(**meta).to_dict() == meta
    # what a Hub tool writes back after loading the card is byte for byte what we wrote
    assert HubModelCard(readme).content == readme


def test_the_llm_example_reports_its_gate_figures_to_the_hub() -> None:
    [path] = [p for p in EXAMPLES if p.name == "support-assistant.yaml"]
    card = load_card_yaml(path.read_text(encoding="utf-8"))
    hub = HubModelCard(render_huggingface_readme(card))
    assert [(r.metric_type, r.metric_value) for r in hub.data.eval_results] == [
        ("agent_edit_rate", 0.31),
        ("answer_accuracy", 0.87),
        ("grounded_answer_rate", 0.94),
        ("refusal_rate", 0.04),
        ("hallucination_rate", 0.03),
        ("latency_p95_ms", 2400.0),
    ]
    # a base model that is not a Hub repository would fail the Hub's own check: not stated
    assert hub.data.base_model is None


def test_a_card_without_metrics_has_no_model_index_for_the_hub() -> None:
    hub = HubModelCard(render_huggingface_readme(ModelCard()))
    assert hub.data.eval_results is None
    assert hub.data.to_dict() == {"tags": ["model-card"]}


def test_awkward_strings_survive_the_hub_round_trip() -> None:
    card = parse_card(AWKWARD)
    readme = render_huggingface_readme(card)
    hub = HubModelCard(readme)
    assert hub.data.model_name == "näive: model # v2"
    assert [(r.metric_type, r.metric_value) for r in hub.data.eval_results] == [
        ("---", 2.0),
        ("a: b", 0.1),
        ("null", 1e20),
        ("tiny", 1e-9),
    ]
    assert {r.dataset_type for r in hub.data.eval_results} == {"yes"}
    assert hub.content == readme


def test_the_hub_parser_is_live_a_broken_model_index_is_refused(example: ModelCard) -> None:
    meta = front_matter(render_huggingface_readme(example))
    del meta["model-index"][0]["results"][0]["metrics"][0]["value"]
    broken = f"---\n{yaml.safe_dump(meta)}---\n\nbody\n"
    with pytest.raises(ValueError, match=r"Invalid `model_index` in metadata cannot be parsed"):
        HubModelCard(broken)


# CycloneDX


def bom_text(card: ModelCard, artifact_digest: str | None = ARTIFACT) -> str:
    """The ML-BOM serialised as `governance models card --format cyclonedx` prints it."""
    bom = render_cyclonedx(card, artifact_digest=artifact_digest)
    return json.dumps(bom, indent=2, sort_keys=True)


@pytest.mark.parametrize("artifact_digest", [ARTIFACT, None], ids=["with-artifact", "card-only"])
def test_the_strict_cyclonedx_validator_accepts_every_example_bom(
    example: ModelCard, validator: JsonStrictValidator, artifact_digest: str | None
) -> None:
    assert validator.validate_str(bom_text(example, artifact_digest)) is None


@pytest.mark.parametrize("fields", [{}, AWKWARD], ids=["empty-card", "awkward-card"])
def test_the_strict_cyclonedx_validator_accepts_sparse_and_awkward_cards(
    validator: JsonStrictValidator, fields: dict[str, Any]
) -> None:
    assert validator.validate_str(bom_text(parse_card(fields))) is None


def _errors(validator: JsonStrictValidator, bom: dict[str, Any]) -> list[str]:
    found = validator.validate_str(json.dumps(bom), all_errors=True)
    return [error.data.message for error in found or ()]


def test_the_cyclonedx_validator_is_live_and_strict(
    example: ModelCard, validator: JsonStrictValidator
) -> None:
    good = render_cyclonedx(example, artifact_digest=ARTIFACT)
    unknown = copy.deepcopy(good)
    unknown["components"][0]["modelCard"]["colour"] = "blue"
    assert _errors(validator, unknown) == [
        "Additional properties are not allowed ('colour' was unexpected)"
    ]
    number = copy.deepcopy(good)
    number["components"][0]["modelCard"]["quantitativeAnalysis"]["performanceMetrics"][0][
        "value"
    ] = 0.5
    assert _errors(validator, number) == ["0.5 is not of type 'string'"]
    serial = dict(good, serialNumber=good["serialNumber"].upper())
    assert len(_errors(validator, serial)) == 1
    assert "does not match" in _errors(validator, serial)[0]


def test_the_bom_declares_the_version_the_validator_checks(example: ModelCard) -> None:
    bom = render_cyclonedx(example)
    version = SchemaVersion.V1_6.to_version()
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", version, 1)
    assert bom["$schema"] == f"http://cyclonedx.org/schema/bom-{version}.schema.json"


def _bom_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["bom-ref"]] if "bom-ref" in node else []
        return own + [ref for value in node.values() for ref in _bom_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _bom_refs(item)]
    return []


def test_bom_refs_are_unique_and_name_the_version(example: ModelCard) -> None:
    refs = _bom_refs(render_cyclonedx(example, artifact_digest=ARTIFACT))
    assert refs == [f"{example.name}@{example.version}"]
    # the schema asks that a bom-ref never look like a BOM-Link
    assert not any(ref.startswith("urn:cdx:") for ref in refs)


def test_the_serial_number_is_a_stable_rfc_4122_urn(example: ModelCard) -> None:
    serial = render_cyclonedx(example, artifact_digest=ARTIFACT)["serialNumber"]
    assert serial.startswith("urn:uuid:")
    parsed = uuid.UUID(serial.removeprefix("urn:uuid:"))
    assert (parsed.version, parsed.variant, parsed.urn) == (5, uuid.RFC_4122, serial)
    assert bom_text(example) == bom_text(example)  # deterministic, byte for byte
    # a BOM stating another artifact, or none, is another BOM with its own serial number
    other = render_cyclonedx(example, artifact_digest=hashlib.sha256(b"other").hexdigest())
    card_only = render_cyclonedx(example)
    assert len({serial, other["serialNumber"], card_only["serialNumber"]}) == 3


def test_the_model_card_carries_the_exact_figures(example: ModelCard) -> None:
    [component] = render_cyclonedx(example, artifact_digest=ARTIFACT)["components"]
    assert component["type"] == "machine-learning-model"
    assert component["hashes"] == [{"alg": "SHA-256", "content": ARTIFACT}]
    model_card = component["modelCard"]
    metrics = model_card["quantitativeAnalysis"]["performanceMetrics"]
    overall = [(m["type"], float(m["value"])) for m in metrics if "slice" not in m]
    assert overall == expected_metrics(example)
    sliced = {(m["slice"], m["type"]): float(m["value"]) for m in metrics if "slice" in m}
    assert sliced == {
        (group, metric): value
        for group, values in example.performance_by_group.items()
        for metric, value in values.items()
    }
    [dataset] = model_card["modelParameters"]["datasets"]
    assert (dataset["type"], dataset["name"]) == ("dataset", example.training_data_version)


def test_bom_figures_are_written_exactly_not_rounded() -> None:
    card = parse_card({"evaluation_metrics": {"auc": 0.87456, "n": 1840000.0, "big": 1e20}})
    metrics = render_cyclonedx(card)["components"][0]["modelCard"]["quantitativeAnalysis"]
    assert metrics["performanceMetrics"] == [
        {"type": "auc", "value": "0.87456"},
        {"type": "big", "value": "1e+20"},
        {"type": "n", "value": "1840000"},
    ]
