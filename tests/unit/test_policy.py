"""The policy file schema: defaults, example file, and errors that name the key path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from governance.config import EXAMPLE_POLICY, Settings, require_configured_policy
from governance.domain.errors import ConfigError, InvalidInput
from governance.domain.gate_policy import GatePolicy
from governance.domain.models import RiskLevel
from governance.domain.policy import Policy, gate_policy_for, policy_from_mapping
from governance.domain.policy_sections import APPROVAL_ROLES, ROLES

EXAMPLE = Path(__file__).resolve().parents[2] / "governance" / "governance.example.yaml"

ROSTER = {
    "alice": ["ml_engineer"],
    "bob": ["ml_engineer"],
    "carol": ["ml_lead"],
    "dave": ["risk_officer"],
    "erin": ["legal"],
}


def load(data: object) -> Policy:
    return policy_from_mapping(data)


def config_error(data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load(data)
    return str(caught.value)


def test_roles_are_the_four_approval_roles_then_admin_and_auditor():
    assert APPROVAL_ROLES == ("ml_engineer", "ml_lead", "risk_officer", "legal")
    assert ROLES[4:] == ("admin", "auditor") and ROLES[:4] == APPROVAL_ROLES


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"approvals": {"staging": ["admin"]}}, "approvals.staging"),
        ({"approvals": {"quorum": {"auditor": 2}}}, "approvals.quorum.auditor"),
        ({"retirement": {"roles": ["admin"]}}, "retirement.roles"),
        ({"prompts": {"roles": ["auditor"]}}, "prompts.roles"),
        ({"break_glass_roles": ["admin"]}, "break_glass_roles"),
    ],
)
def test_admin_and_auditor_are_roster_roles_that_no_rule_may_name(section, path):
    roster = {**ROSTER, "grace": ["admin"], "heidi": ["auditor"]}
    assert load({"roster": roster}).holders("admin") == ["grace"]
    role = "admin" if "admin" in str(section) else "auditor"
    message = config_error({"roster": roster, **section})
    assert message == (
        f"policy file: {path}: not an approval role {role!r} "
        "(expected one of ml_engineer, ml_lead, risk_officer, legal)"
    )


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


# The canonical JSON of load({"roster": ROSTER}), written out by hand: every default is
# present, keys are sorted at every level, and there is no whitespace and no version.
CANONICAL_DEFAULTS = (
    '{"approval_timeout_hours":72.0,'
    '"approvals":{"production":["ml_lead","risk_officer"],'
    '"production_high_risk_extra":["legal"],"quorum":{},"staging":["ml_engineer"]},'
    '"blue_green":{"scale_down_delay_minutes":60.0,"smoke_rows":20},'
    '"break_glass_rejection":"rollback","break_glass_roles":["ml_lead"],'
    '"canary":{"alpha":0.05,"bake_minutes":30.0,"latency_min_effect":0.2,'
    '"max_accuracy_drop":0.05,"max_error_rate_increase":0.02,"max_extensions":3,'
    '"min_labels":30,"min_samples":50,"steps":[5,25,50,100],"watchdog_grace_minutes":10.0},'
    '"experiments":{"alpha":0.05,"max_duration_days":30.0,"min_samples_per_variant":100,'
    '"srm_alpha":0.001},"flags":{"max_unapproved_percentage":5.0},'
    '"gates":{"default":{"max_fairness_gap":null,"max_latency_p95_ms":null,'
    '"regression_tolerance":0.02,"require_groups_at":[],"thresholds":[]},"per_model":{}},'
    '"identity":"totp",'
    '"prompts":{"canary":{"alpha":0.05,"bake_minutes":30.0,"latency_min_effect":0.2,'
    '"max_error_rate_increase":0.02,"max_extensions":3,"min_samples":50,"steps":[10,50,100]},'
    '"gate":{"allow_safety_failures":0,"max_hallucination_rate":null,'
    '"max_latency_p95_ms":null,"max_regression":0.02,"min_pass_rate":0.9},'
    '"roles":["ml_lead","risk_officer"]},'
    '"retention":{"documentation_years":10,"logs_months":6},'
    '"retirement":{"accuracy_metric":"accuracy","accuracy_window_days":30,'
    '"drift_window_days":7,"max_age_days":90,"max_drift_share":0.3,"min_accuracy":0.8,'
    '"min_accuracy_days":null,"min_drift_rows":100,"min_labels":50,"no_traffic_days":30,'
    '"reference_rows":5000,"review_days":90,"roles":["ml_lead","risk_officer"],'
    '"sunset_days":30},'
    '"roster":{"alice":["ml_engineer"],"bob":["ml_engineer"],"carol":["ml_lead"],'
    '"dave":["risk_officer"],"erin":["legal"]}}'
)

POLICY_TEXT = """\
roster:
  alice: [ml_engineer]
  bob: [ml_engineer]
  carol: [ml_lead]
  dave: [risk_officer]
  erin: [legal]
approval_timeout_hours: 48
gates:
  default:
    regression_tolerance: 0.02
"""


def version_of(text: str) -> str:
    return policy_from_mapping(yaml.safe_load(text)).version


def test_version_is_sha256_of_the_canonical_validated_policy():
    policy = load({"roster": ROSTER})
    assert policy.version == hashlib.sha256(CANONICAL_DEFAULTS.encode()).hexdigest()
    assert policy.short_version == policy.version[:12]


def test_a_comment_or_layout_edit_keeps_the_version():
    edited = "# reviewed by the risk office\n" + POLICY_TEXT.replace(
        "approval_timeout_hours: 48", "approval_timeout_hours: 48.0   # two days\n"
    )
    assert version_of(edited) == version_of(POLICY_TEXT)


def test_reordered_keys_keep_the_version():
    lines = POLICY_TEXT.splitlines(keepends=True)
    # the gates section first, then the timeout, then the roster with its people reversed
    reordered = "".join([*lines[7:], lines[6], lines[0], *reversed(lines[1:6])])
    assert yaml.safe_load(reordered) == yaml.safe_load(POLICY_TEXT)
    assert reordered != POLICY_TEXT
    assert version_of(reordered) == version_of(POLICY_TEXT)


def test_writing_out_a_default_or_a_name_variant_keeps_the_version():
    assert version_of(POLICY_TEXT.replace("0.02", "0.020")) == version_of(POLICY_TEXT)
    assert version_of(POLICY_TEXT.replace("carol:", "Carol:")) == version_of(POLICY_TEXT)
    assert load({"roster": ROSTER, "identity": "totp"}).version == load({"roster": ROSTER}).version


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("approval_timeout_hours: 48", "approval_timeout_hours: 47"),
        ("0.02", "0.03"),
        ("bob: [ml_engineer]", "bob: [ml_engineer, legal]"),
    ],
)
def test_any_value_change_changes_the_version(old: str, new: str):
    assert version_of(POLICY_TEXT.replace(old, new)) != version_of(POLICY_TEXT)


def test_example_file_validates():
    text = EXAMPLE.read_text()
    policy = policy_from_mapping(yaml.safe_load(text))
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
    assert policy.gates.default.require_groups_at == (RiskLevel.high, RiskLevel.critical)
    assert policy.gates.per_model, "the example should show a per-model override"
    fraud = gate_policy_for(policy, "fraud-detector")
    assert fraud.require_groups_at == (RiskLevel.high, RiskLevel.critical)


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


def gates(default: dict, **per_model: dict) -> dict:
    return {"roster": ROSTER, "gates": {"default": default, "per_model": per_model}}


def test_require_groups_at_takes_risk_levels_in_one_order_and_overrides_inherit_it():
    default = {"max_fairness_gap": 0.1, "require_groups_at": ["critical", "high", "critical"]}
    policy = load(gates(default, fraud={"max_latency_p95_ms": 200}, toy={"require_groups_at": []}))

    assert policy.gates.default.require_groups_at == (RiskLevel.high, RiskLevel.critical)
    assert gate_policy_for(policy, "fraud").require_groups_at == (
        RiskLevel.high,
        RiskLevel.critical,
    )
    assert gate_policy_for(policy, "toy").require_groups_at == ()
    reordered = {**default, "require_groups_at": ["high", "critical"]}
    assert load(gates(reordered)).version == load(gates(default)).version
    assert load(gates({**default, "require_groups_at": ["high"]})).version != (
        load(gates(default)).version
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            gates({"max_fairness_gap": 0.1, "require_groups_at": ["high", "extreme"]}),
            "policy file: gates.default.require_groups_at: unknown risk level 'extreme' "
            "(expected one of low, medium, high, critical)",
        ),
        (
            gates({"max_fairness_gap": 0.1}, fraud={"require_groups_at": ["Critical"]}),
            "policy file: gates.per_model.fraud.require_groups_at: unknown risk level "
            "'Critical' (expected one of low, medium, high, critical)",
        ),
        (
            gates({"max_fairness_gap": 0.1, "require_groups_at": "high"}),
            "policy file: gates.default.require_groups_at: expected a list of risk levels "
            "such as [high, critical], got 'high'",
        ),
        (
            gates({"require_groups_at": ["high"]}),
            "policy file: gates.default: require_groups_at (high) needs max_fairness_gap: "
            "without a bound on the gap there is no fairness check; set max_fairness_gap or "
            "require_groups_at: []",
        ),
        (
            gates(
                {"max_fairness_gap": 0.1, "require_groups_at": ["high"]},
                fraud={"max_fairness_gap": None},
            ),
            "policy file: gates.per_model.fraud: require_groups_at (high) needs "
            "max_fairness_gap: without a bound on the gap there is no fairness check; set "
            "max_fairness_gap or require_groups_at: []",
        ),
    ],
)
def test_bad_require_groups_at_is_refused_naming_the_key_path(data, message):
    assert config_error(data) == message


def test_unknown_role_in_roster_names_person_and_role():
    message = config_error({"roster": {**ROSTER, "carol": ["ml_leed"]}})
    assert message.startswith("policy file: roster.carol: unknown role 'ml_leed'")
    assert "expected one of ml_engineer, ml_lead, risk_officer, legal, admin" in message


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
    policy = policy_from_mapping({"roster": {**ROSTER, "grace": []}})
    assert policy.roster["grace"] == []
    assert "grace" not in policy.holders("ml_engineer")


def test_roster_names_are_canonical_and_unique():
    policy = policy_from_mapping({"roster": {**ROSTER, "  Grace ": ["legal"]}})
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


@pytest.fixture
def no_policy_env(tmp_path, monkeypatch) -> Path:
    """A working directory with no governance.yaml and no GOVERNANCE_POLICY_FILE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOVERNANCE_POLICY_FILE", raising=False)
    return tmp_path


def test_an_unnamed_example_policy_is_refused_for_promotions(no_policy_env):
    settings = Settings()
    assert settings.resolved_policy_file == EXAMPLE_POLICY
    assert settings.policy_is_implicit_example is True
    with pytest.raises(ConfigError) as caught:
        require_configured_policy(settings)
    assert str(caught.value) == (
        f"no policy configured: copy {EXAMPLE_POLICY} to governance.yaml or set "
        "GOVERNANCE_POLICY_FILE (the shipped example is used only when named explicitly)"
    )


def test_the_example_named_explicitly_is_accepted(no_policy_env, monkeypatch):
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    settings = Settings()
    assert settings.resolved_policy_file == EXAMPLE_POLICY
    assert settings.policy_is_implicit_example is False
    require_configured_policy(settings)


def test_a_local_governance_yaml_is_accepted(no_policy_env):
    (no_policy_env / "governance.yaml").write_text(EXAMPLE_POLICY.read_text())
    settings = Settings()
    assert settings.resolved_policy_file == Path("governance.yaml")
    assert settings.policy_is_implicit_example is False
    require_configured_policy(settings)


def test_a_named_policy_file_is_accepted(no_policy_env):
    settings = Settings(policy_file=no_policy_env / "mine.yaml")
    assert settings.policy_is_implicit_example is False
    require_configured_policy(settings)


def test_retirement_roles_the_roster_cannot_fill_are_refused():
    """A retire verdict nobody may approve would only ever expire."""
    roster = {person: roles for person, roles in ROSTER.items() if person != "erin"}
    policy = {
        "roster": roster,
        "approvals": {"production_high_risk_extra": []},
        "retirement": {"roles": ["ml_lead", "legal"]},
    }
    message = config_error(policy)
    assert "approvals: role legal needs 1 approver(s) but the roster gives it to 0 (nobody)" in (
        message
    )
