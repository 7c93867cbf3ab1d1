"""The policy file schema: defaults, example file, and errors that name the key path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from governance.domain.errors import ConfigError, InvalidInput
from governance.domain.evaluation import GatePolicy
from governance.domain.policy import ROLES, Policy, gate_policy_for, policy_from_mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "governance.example.yaml"

ROSTER = {
    "alice": ["ml_engineer"],
    "bob": ["ml_engineer"],
    "carol": ["ml_lead"],
    "dave": ["risk_officer"],
    "erin": ["legal"],
}


def load(data: object, raw_text: str = "roster: {}") -> Policy:
    return policy_from_mapping(data, raw_text)


def config_error(data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load(data)
    return str(caught.value)


def test_roles_are_the_four_named_in_the_design():
    assert ROLES == ("ml_engineer", "ml_lead", "risk_officer", "legal")


def test_defaults_follow_the_design():
    policy = load({"roster": ROSTER})
    assert policy.approvals.staging == ["ml_engineer"]
    assert policy.approvals.production == ["ml_lead", "risk_officer"]
    assert policy.approvals.production_high_risk_extra == ["legal"]
    assert policy.approvals.quorum == {}
    assert policy.approval_timeout_hours == 72
    assert policy.approval_timeout_seconds == 72 * 3600
    assert policy.canary.steps == [5, 25, 50, 100]
    assert policy.retirement.max_age_days == 90
    assert policy.retirement.max_drift_share == 0.3
    assert policy.timeouts.pause_poll_seconds == 0.5


def test_version_is_sha256_of_the_raw_text():
    text = "roster:\n  alice: [ml_engineer]\n"
    policy = load({"roster": ROSTER}, text)
    assert policy.version == hashlib.sha256(text.encode()).hexdigest()
    assert policy.short_version == policy.version[:12]
    assert load({"roster": ROSTER}, text + "# edited\n").version != policy.version


def test_example_file_validates():
    text = EXAMPLE.read_text()
    policy = policy_from_mapping(yaml.safe_load(text), text)
    assert set(policy.roster) >= {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert policy.roster["frank"] == ["ml_lead", "risk_officer"]
    bounds = {t.metric: (t.direction, t.value) for t in policy.gates.default.thresholds}
    assert bounds == {
        "accuracy": ("min", 0.85),
        "f1_weighted": ("min", 0.80),
        "auc_roc": ("min", 0.85),
    }
    assert policy.gates.default.max_fairness_gap == 0.10
    assert policy.gates.default.max_latency_p95_ms == 50
    assert policy.gates.default.regression_tolerance == 0.02
    assert policy.gates.per_model, "the example should show a per-model override"


def test_per_model_override_inherits_what_it_leaves_out():
    default = {
        "thresholds": [{"metric": "accuracy", "direction": "min", "value": 0.85}],
        "max_latency_p95_ms": 50,
    }
    gates = {"default": default, "per_model": {"fraud": {"max_latency_p95_ms": 200}}}
    policy = load({"roster": ROSTER, "gates": gates})
    fraud = gate_policy_for(policy, "fraud")
    assert fraud.max_latency_p95_ms == 200
    assert [t.metric for t in fraud.thresholds] == ["accuracy"]
    assert gate_policy_for(policy, "churn") == policy.gates.default
    assert isinstance(gate_policy_for(policy, "churn"), GatePolicy)


def test_unknown_role_in_roster_names_person_and_role():
    message = config_error({"roster": {**ROSTER, "carol": ["ml_leed"]}})
    assert message.startswith("policy file: roster.carol: unknown role 'ml_leed'")
    assert "expected one of ml_engineer, ml_lead, risk_officer, legal" in message


def test_unknown_role_in_quorum_names_the_key():
    message = config_error({"roster": ROSTER, "approvals": {"quorum": {"lawyer": 1}}})
    assert "approvals.quorum.lawyer: unknown role 'lawyer'" in message


def test_malformed_threshold_value_names_the_path():
    bad = [{"metric": "accuracy", "direction": "min", "value": "high"}]
    message = config_error({"roster": ROSTER, "gates": {"default": {"thresholds": bad}}})
    assert "policy file: gates.default.thresholds.0.value: Input should be a valid number" in (
        message
    )


def test_unknown_top_level_key_is_named_with_the_known_ones():
    message = config_error({"roster": ROSTER, "aprovals": {}})
    assert message.startswith("policy file: aprovals: unknown key (expected one of roster,")
    assert "version" not in message


def test_unknown_nested_key_lists_the_section_keys():
    message = config_error({"roster": ROSTER, "canary": {"bake_minuts": 5}})
    assert "canary.bake_minuts: unknown key" in message
    assert "bake_minutes" in message


def test_required_role_nobody_holds_is_named():
    roster = {person: roles for person, roles in ROSTER.items() if person != "erin"}
    message = config_error({"roster": roster})
    assert "role legal needs 1 approver(s)" in message
    assert "nobody" in message


def test_quorum_larger_than_holders_is_refused():
    message = config_error({"roster": ROSTER, "approvals": {"quorum": {"ml_lead": 2}}})
    assert "role ml_lead needs 2 approver(s) but the roster gives it to 1 (carol)" in message


def test_one_person_cannot_cover_two_roles_of_one_request():
    # frank holds both production roles, so two ml_leads plus a risk officer need 3 people.
    roster = {**ROSTER, "frank": ["ml_lead", "risk_officer"]}
    del roster["dave"]
    message = config_error({"roster": roster, "approvals": {"quorum": {"ml_lead": 2}}})
    assert "production needs 3 distinct approvers but the roster can fill only 2" in message


def test_two_role_holder_counts_once_per_request_but_still_validates():
    roster = {**ROSTER, "frank": ["ml_lead", "risk_officer"]}
    policy = load({"roster": roster, "approvals": {"quorum": {"ml_lead": 2}}})
    assert policy.holders("ml_lead") == ["carol", "frank"]


def test_empty_roster_is_refused():
    assert "roster: Dictionary should have at least 1 item" in config_error({"roster": {}})


def test_missing_roster_is_refused():
    assert "roster: Field required" in config_error({"approvals": {}})


def test_person_without_roles_may_request_but_not_approve():
    policy = policy_from_mapping({"roster": {**ROSTER, "grace": []}}, "text")
    assert policy.roster["grace"] == []
    assert "grace" not in policy.holders("ml_engineer")


def test_roster_names_are_canonical_and_unique():
    policy = policy_from_mapping({"roster": {**ROSTER, "  Grace ": ["legal"]}}, "text")
    assert policy.roster["grace"] == ["legal"]
    message = config_error({"roster": {**ROSTER, "Carol": ["ml_lead"]}})
    assert message == "policy file: roster: 'Carol' is listed twice (names compare case-folded)"


def test_non_positive_timeout_is_refused():
    message = config_error({"roster": ROSTER, "approval_timeout_hours": 0})
    assert "approval_timeout_hours: Input should be greater than 0" in message


@pytest.mark.parametrize(
    ("steps", "reason"),
    [([5, 50], "must be 100"), ([50, 25, 100], "strictly increase"), ([0, 100], "between 1")],
)
def test_bad_canary_steps_are_refused(steps, reason):
    message = config_error({"roster": ROSTER, "canary": {"steps": steps}})
    assert "canary.steps: " in message
    assert reason in message


def test_version_key_in_the_file_is_refused():
    assert "version: unknown key" in config_error({"roster": ROSTER, "version": "1"})


@pytest.mark.parametrize(("document", "word"), [(None, "empty"), ([1, 2], "got list")])
def test_non_mapping_document_is_refused(document, word):
    message = config_error(document)
    assert word in message


def test_config_error_is_invalid_input():
    with pytest.raises(InvalidInput):
        load("roster")
