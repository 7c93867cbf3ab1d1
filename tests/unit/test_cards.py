"""Model card schema, completeness rules per stage and risk, hashing and highlights."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from datetime import date
from typing import Any

import pytest

from governance.domain.cards import (
    ModelCard,
    RetirementCriteria,
    card_hash,
    card_highlights,
    missing_fields,
    parse_card,
    require_complete,
    required_fields,
    with_identity,
)
from governance.domain.errors import IncompleteCard, InvalidInput, MalformedCard
from governance.domain.models import LifecycleStage, ModelKind, RiskLevel

NEVER_REQUIRED = {"model_id", "approved_by", "approval_date", "hyperparameters"}


def full_card_data(**overrides: Any) -> dict[str, Any]:
    """A card that fills every field, as a plain mapping like a YAML file gives."""
    data: dict[str, Any] = {
        "name": "churn-classifier",
        "version": "1.2.0",
        "owner": "ada",
        "team": "retention",
        "intended_use": "Rank subscribers by churn risk for retention outreach.",
        "out_of_scope_uses": ["credit decisions"],
        "primary_users": ["retention team"],
        "training_data_description": "Two years of subscriber snapshots.",
        "training_data_version": "snapshots-v3",
        "training_date": "2025-01-14",
        "training_pipeline": "pipelines/churn/train.py",
        "hyperparameters": {"learning_rate": 0.05, "max_iter": 600},
        "evaluation_metrics": {"roc_auc": 0.87, "accuracy": 0.91},
        "performance_by_group": {"age_65_plus": {"roc_auc": 0.84}},
        "known_limitations": ["weak on new subscribers"],
        "risk_level": "high",
        "ethical_considerations": "Offers are a benefit; missing a group withholds it.",
        "fairness_assessment": "AUC spread across age bands is 0.036.",
        "approved_by": [],
        "approval_date": None,
        "review_schedule": "quarterly",
        "retirement_criteria": {"max_age_days": 180, "min_accuracy": 0.88},
    }
    data.update(overrides)
    return data


def test_full_card_parses_with_typed_values() -> None:
    card = parse_card(full_card_data())
    assert card.risk_level is RiskLevel.high
    assert card.training_date == date(2025, 1, 14)
    assert card.retirement_criteria.max_age_days == 180


def test_unknown_field_is_named() -> None:
    with pytest.raises(MalformedCard, match="unknown field 'foo'"):
        parse_card(full_card_data(foo=1))


def test_bad_risk_level_is_named_with_allowed_values() -> None:
    with pytest.raises(MalformedCard, match=r"risk_level: Input should be 'low'.*'critical'"):
        parse_card(full_card_data(risk_level="extreme"))


def test_min_accuracy_out_of_range_is_named_by_its_path() -> None:
    bad = {"min_accuracy": 1.5}
    with pytest.raises(MalformedCard, match=r"retirement_criteria\.min_accuracy: .*less than or"):
        parse_card(full_card_data(retirement_criteria=bad))


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"max_age_days": 0}, "max_age_days"),
        ({"max_drift_share": -0.1}, "max_drift_share"),
        ({"threshold": 3}, "threshold"),
    ],
)
def test_bad_retirement_criteria_are_refused(criteria: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedCard, match=field):
        parse_card(full_card_data(retirement_criteria=criteria))


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(MalformedCard) as caught:
        parse_card(full_card_data(foo=1, risk_level="x", version="1.0"))
    message = str(caught.value)
    assert message.startswith("malformed model card: ")
    for part in ("unknown field 'foo'", "risk_level:", "version: invalid semantic version"):
        assert part in message


def test_not_a_number_metric_is_refused() -> None:
    with pytest.raises(MalformedCard, match=r"evaluation_metrics\.roc_auc"):
        parse_card(full_card_data(evaluation_metrics={"roc_auc": math.nan}))


def test_non_json_hyperparameter_is_refused() -> None:
    with pytest.raises(MalformedCard, match=r"hyperparameters\.seeds"):
        parse_card(full_card_data(hyperparameters={"seeds": {1, 2}}))


def test_non_mapping_is_refused() -> None:
    with pytest.raises(MalformedCard, match="expected a mapping of fields, got list"):
        parse_card(["name", "churn"])  # type: ignore[arg-type]


def test_malformed_card_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_card(full_card_data(version="latest"))


def test_draft_card_may_leave_everything_empty() -> None:
    card = parse_card({})
    assert card.name == ""
    assert not card.retirement_criteria.has_threshold()


def test_development_requires_identity_and_intended_use() -> None:
    wanted = ["name", "version", "owner", "team", "intended_use"]
    assert required_fields(LifecycleStage.development, RiskLevel.critical) == wanted


def test_each_stage_adds_to_the_one_before() -> None:
    for risk in RiskLevel:
        dev = set(required_fields(LifecycleStage.development, risk))
        staging = set(required_fields(LifecycleStage.staging, risk))
        prod = set(required_fields(LifecycleStage.production, risk))
        assert dev < staging < prod


def test_staging_requires_training_facts_and_evaluation() -> None:
    staging = set(required_fields(LifecycleStage.staging, RiskLevel.low))
    expected = {
        "training_data_description",
        "training_data_version",
        "training_date",
        "training_pipeline",
        "evaluation_metrics",
        "known_limitations",
        "out_of_scope_uses",
        "primary_users",
    }
    assert expected <= staging
    assert "review_schedule" not in staging


def test_group_performance_by_risk_and_stage() -> None:
    def needs_groups(stage: LifecycleStage, risk: RiskLevel) -> bool:
        return "performance_by_group" in required_fields(stage, risk)

    assert not needs_groups(LifecycleStage.production, RiskLevel.low)
    assert needs_groups(LifecycleStage.production, RiskLevel.medium)
    assert not needs_groups(LifecycleStage.staging, RiskLevel.high)
    assert needs_groups(LifecycleStage.staging, RiskLevel.critical)


def test_ethics_needed_in_production_from_high_risk() -> None:
    ethics = {"ethical_considerations", "fairness_assessment"}
    for risk in RiskLevel:
        prod = set(required_fields(LifecycleStage.production, risk))
        assert (ethics <= prod) == (risk in (RiskLevel.high, RiskLevel.critical))
    assert not ethics & set(required_fields(LifecycleStage.staging, RiskLevel.critical))


def test_approval_and_registry_fields_are_never_required() -> None:
    for stage, risk in itertools.product(LifecycleStage, RiskLevel):
        assert not NEVER_REQUIRED & set(required_fields(stage, risk))


def test_retiring_is_never_blocked_by_the_card() -> None:
    assert required_fields(LifecycleStage.retired, RiskLevel.critical) == []
    require_complete(parse_card({}), LifecycleStage.retired, RiskLevel.critical)


def test_deprecated_keeps_production_rules() -> None:
    for risk in RiskLevel:
        deprecated = required_fields(LifecycleStage.deprecated, risk)
        assert deprecated == required_fields(LifecycleStage.production, risk)


def test_stage_and_risk_accept_plain_strings() -> None:
    assert required_fields("production", "high") == required_fields(  # type: ignore[arg-type]
        LifecycleStage.production, RiskLevel.high
    )


LLM_FACTS = {
    "base_model": "GPT-4-turbo",
    "data_volume": "500K examples",
    "pii_handling": "All PII removed during preprocessing",
    "hallucination_rate": 0.021,
    "latency_p95_ms": 1200,
}


def test_llm_models_add_the_llm_card_facts_from_staging_on() -> None:
    llm = ModelKind.llm
    for stage, risk in itertools.product(LifecycleStage, RiskLevel):
        added = set(required_fields(stage, risk, llm)) - set(required_fields(stage, risk))
        wanted = stage not in (LifecycleStage.development, LifecycleStage.retired)
        assert added == (set(LLM_FACTS) if wanted else set())


def test_an_llm_card_without_its_facts_names_them() -> None:
    card = parse_card(full_card_data(base_model="GPT-4-turbo"))
    assert require_complete(card, LifecycleStage.production, RiskLevel.high) is card
    with pytest.raises(IncompleteCard) as caught:
        require_complete(card, LifecycleStage.staging, RiskLevel.low, ModelKind.llm)
    assert caught.value.missing == [
        "data_volume", "pii_handling", "hallucination_rate", "latency_p95_ms"
    ]  # fmt: skip
    # a claim of no hallucination at all is a stated figure, not a missing one
    full = parse_card(full_card_data(**{**LLM_FACTS, "hallucination_rate": 0.0}))
    assert require_complete(full, LifecycleStage.production, RiskLevel.high, ModelKind.llm) is full


@pytest.mark.parametrize(
    ("field", "value"),
    [("hallucination_rate", 1.5), ("hallucination_rate", -0.1), ("latency_p95_ms", 0)],
)
def test_out_of_range_llm_figures_are_named(field: str, value: float) -> None:
    with pytest.raises(MalformedCard, match=field):
        parse_card(full_card_data(**{field: value}))


def test_llm_facts_move_the_card_hash_only_when_stated() -> None:
    plain = card_hash(parse_card(full_card_data()))
    stated = {card_hash(parse_card(full_card_data(**{k: v}))) for k, v in LLM_FACTS.items()}
    assert plain not in stated and len(stated) == len(LLM_FACTS)
    emptied = full_card_data(base_model="", data_volume="", hallucination_rate=None)
    assert card_hash(parse_card(emptied)) == plain


def test_empty_values_count_as_missing() -> None:
    card = parse_card(full_card_data(owner="   ", primary_users=[], evaluation_metrics={}))
    missing = missing_fields(card, LifecycleStage.staging, RiskLevel.low)
    assert missing == ["owner", "primary_users", "evaluation_metrics"]


def test_retirement_notes_alone_are_not_a_criterion() -> None:
    card = parse_card(full_card_data(retirement_criteria={"notes": "when it feels old"}))
    assert missing_fields(card, LifecycleStage.production, RiskLevel.low) == ["retirement_criteria"]


def test_high_risk_production_without_ethics_is_incomplete() -> None:
    card = parse_card(full_card_data(ethical_considerations="", fairness_assessment=""))
    with pytest.raises(IncompleteCard) as caught:
        require_complete(card, LifecycleStage.production, RiskLevel.high)
    assert caught.value.missing == ["ethical_considerations", "fairness_assessment"]
    message = str(caught.value)
    assert "production at high risk" in message
    assert "ethical_considerations" in message
    assert "fairness_assessment" in message


def test_same_card_is_complete_for_low_risk_production() -> None:
    card = parse_card(full_card_data(ethical_considerations="", fairness_assessment=""))
    assert require_complete(card, LifecycleStage.production, RiskLevel.low) is card


def test_full_card_is_complete_everywhere() -> None:
    card = parse_card(full_card_data())
    for stage, risk in itertools.product(LifecycleStage, RiskLevel):
        assert missing_fields(card, stage, risk) == []


def test_hash_is_hex_sha256_and_equal_for_equal_cards() -> None:
    first, second = parse_card(full_card_data()), parse_card(full_card_data())
    digest = card_hash(first)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert card_hash(second) == digest


def test_hash_ignores_mapping_order() -> None:
    forward = parse_card(full_card_data(hyperparameters={"a": 1, "b": 2}))
    backward = parse_card(full_card_data(hyperparameters={"b": 2, "a": 1}))
    assert card_hash(forward) == card_hash(backward)


def test_hash_is_stable_across_processes() -> None:
    code = (
        "import sys, json; from governance.domain.cards import parse_card, card_hash; "
        "print(card_hash(parse_card(json.loads(sys.stdin.read()))))"
    )
    card = parse_card(full_card_data())
    hashes = set()
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            input=card.model_dump_json(),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        hashes.add(result.stdout.strip())
    assert hashes == {card_hash(card)}


@pytest.mark.parametrize(
    "change",
    [
        {"name": "churn-classifier-2"},
        {"version": "1.2.1"},
        {"intended_use": "Something else."},
        {"training_date": "2025-01-15"},
        {"hyperparameters": {"learning_rate": 0.06, "max_iter": 600}},
        {"evaluation_metrics": {"roc_auc": 0.8701, "accuracy": 0.91}},
        {"performance_by_group": {"age_65_plus": {"roc_auc": 0.85}}},
        {"risk_level": "critical"},
        {"approved_by": ["grace"]},
        {"retirement_criteria": {"max_age_days": 181, "min_accuracy": 0.88}},
    ],
)
def test_hash_moves_when_any_field_changes(change: dict[str, Any]) -> None:
    before = card_hash(parse_card(full_card_data()))
    assert card_hash(parse_card(full_card_data(**change))) != before


def test_with_identity_takes_registry_values_and_leaves_original() -> None:
    draft = parse_card(full_card_data(name="", version="", owner="", team=""))
    card = with_identity(
        draft,
        name="churn",
        version="2.0.0",
        model_id="m-17",
        owner="grace",
        team="growth",
        risk_level=RiskLevel.critical,
    )
    assert (card.name, card.version, card.model_id, card.owner, card.team) == (
        "churn",
        "2.0.0",
        "m-17",
        "grace",
        "growth",
    )
    assert card.risk_level is RiskLevel.critical
    assert draft.name == ""
    assert card.intended_use == draft.intended_use


def test_with_identity_checks_the_version() -> None:
    with pytest.raises(MalformedCard, match="version"):
        with_identity(ModelCard(), name="churn", version="two", model_id=None, owner="a", team="b")


def test_highlights_name_what_an_approver_needs() -> None:
    highlights = card_highlights(parse_card(full_card_data()))
    assert set(highlights) >= {
        "intended use",
        "known limitations",
        "fairness",
        "retirement criteria",
    }
    assert highlights["known limitations"] == "weak on new subscribers"
    assert "180 days" in highlights["retirement criteria"]
    assert "0.88" in highlights["retirement criteria"]


def test_highlights_say_when_nothing_is_stated() -> None:
    highlights = card_highlights(ModelCard())
    assert highlights["fairness"] == "none stated"
    assert highlights["retirement criteria"] == "none stated"


def test_retirement_description_includes_notes() -> None:
    criteria = RetirementCriteria(max_drift_share=0.3, notes="or on a label change")
    assert criteria.describe() == "retire when drift share above 0.3 (or on a label change)"


def test_domain_module_imports_no_rendering_libraries() -> None:
    code = (
        "import sys, governance.domain.cards; "
        "print(sorted(m for m in ('yaml', 'jinja2', 'sqlalchemy', 'prefect') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
