"""Evaluation datasets and runs on real SQLite and PostgreSQL, with real scikit-learn models."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import skops.io as sio
from seeding import seed_stage
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier

from governance.domain.errors import (
    Conflict,
    DatasetNotFound,
    DigestMismatch,
    InvalidInput,
    NotFound,
    VersionNotFound,
)
from governance.domain.evaluation import ThresholdCheck
from governance.domain.gate_report import gate_report_markdown
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, RiskLevel
from governance.reports.approval_form import approval_form_markdown
from governance.services.promotion import approval_requests, evaluation
from governance.services.registry import datasets, versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit

S = LifecycleStage


def write_dataset(tmp_path, suffix=".csv", name="holdout"):
    """Breast cancer with its label and a synthetic `site` group column, written to a file."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = features.assign(label=target.to_numpy())
    frame["site"] = np.where(np.arange(len(frame)) % 3 == 0, "clinic", "hospital")
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def register(gov, churn_model, card, data, version, now, by="alice"):
    spec = VersionSpec(name="churn", version=version, created_by=by, training_data_version="d1")
    return versions.register_version(gov, spec, card, artifact=data, now=now, new_model=churn_model)


def dummy_bytes():
    """A fitted most-frequent classifier: a deliberately useless model."""
    x, y = load_breast_cancer(return_X_y=True)
    return sio.dumps(DummyClassifier(strategy="most_frequent").fit(x, y))


def add_dataset(gov, tmp_path, now, name="holdout", suffix=".csv"):
    path = write_dataset(tmp_path, suffix, name)
    return datasets.register_dataset(
        gov, name=name, path=path, target="label", group_columns=["site"], actor="alice", now=now
    )


def snapshot(gov):
    """Everything a refusal must leave untouched."""
    root = gov.artifacts.root
    files = sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []
    with gov.store.read() as tx:
        runs = [r for v in tx.registry.search() for r in tx.evaluation.runs_of("churn", v.version)]
        return tx.evaluation.list_datasets(), runs, tx.audit.query(), files


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_register_dataset_is_content_addressed_and_audited(gov, tmp_path, now, suffix):
    dataset = add_dataset(gov, tmp_path, now, suffix=suffix)
    raw = (tmp_path / f"holdout{suffix}").read_bytes()

    assert dataset.digest == hashlib.sha256(raw).hexdigest()
    assert dataset.format == suffix[1:] and dataset.n_rows == 569
    assert dataset.group_columns == ("site",) and dataset.target == "label"
    assert gov.artifacts.read_verified(dataset.digest) == raw
    assert datasets.get_dataset(gov, "holdout") == dataset
    (event,) = audit.history(gov, event_type="dataset.registered")
    assert event.actor == "alice" and event.details["digest"] == dataset.digest
    assert event.details["group_columns"] == ["site"] and audit.verify_chain(gov).ok


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("extension", InvalidInput, "unknown extension '.txt'"),
        ("target", InvalidInput, "target column 'outcome'"),
        ("group", InvalidInput, "group column(s) not in the dataset: region"),
        ("duplicate", Conflict, "'holdout' is already registered"),
        ("name", InvalidInput, "invalid dataset name 'Hold Out'"),
        ("missing", DatasetNotFound, "does not exist"),
    ],
)
def test_register_dataset_refusals_change_nothing(gov, tmp_path, now, case, error, message):
    add_dataset(gov, tmp_path, now)
    other = write_dataset(tmp_path, ".csv", "other")
    args = {"name": "other", "path": other, "target": "label", "group_columns": ["site"]}
    if case == "extension":
        args["path"] = other.rename(tmp_path / "other.txt")
    elif case == "target":
        args["target"] = "outcome"
    elif case == "group":
        args["group_columns"] = ["site", "region"]
    elif case == "duplicate":
        args["name"] = "holdout"
        args["path"] = write_dataset(tmp_path, ".parquet", "copy")
    elif case == "name":
        args["name"] = "Hold Out"
    elif case == "missing":
        args["path"] = tmp_path / "absent.csv"
    before = snapshot(gov)

    with pytest.raises(error) as info:
        datasets.register_dataset(gov, **args, actor="alice", now=now)

    assert message in str(info.value)
    assert snapshot(gov) == before


def test_evaluate_candidate_against_production(
    gov, tmp_path, now, churn_model, example_card, model_bytes
):
    for version, data in (("1.0.0", model_bytes[0]), ("1.1.0", model_bytes[1])):
        register(gov, churn_model, example_card, data, version, now)
        seed_stage(gov, "churn", version, S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    dataset = add_dataset(gov, tmp_path, now)

    run = evaluation.evaluate(
        gov, model="churn", version="1.1.0", dataset="holdout", actor="alice", now=now
    )

    assert run.decision.passed, run.decision.summary()
    assert run.dataset_digest == dataset.digest and run.policy_version == gov.policy.version
    assert run.result.metrics["accuracy"] >= 0.85 and run.result.baseline_version == "1.0.0"
    assert set(run.result.baseline) >= {"accuracy", "f1_weighted", "auc_roc"}
    names = [check.name for check in run.decision.checks]
    assert "regression:accuracy" in names and "fairness_gap" in names
    assert set(run.result.per_group["site"]) == {"clinic", "hospital"}
    assert evaluation.get_run(gov, run.id) == run
    (event,) = audit.history(gov, event_type="model.evaluated")
    assert (event.model, event.version, event.actor) == ("churn", "1.1.0", "alice")
    assert event.details["run_id"] == run.id and event.details["passed"] is True
    assert event.details["metrics"] == run.result.metrics and event.details["failures"] == []
    assert event.details["dataset_digest"] == dataset.digest and audit.verify_chain(gov).ok


def test_bad_model_fails_the_gate_with_reasons(
    gov, tmp_path, now, churn_model, example_card, model_bytes
):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    register(gov, churn_model, example_card, dummy_bytes(), "2.0.0", now)
    add_dataset(gov, tmp_path, now, suffix=".parquet")

    run = evaluation.evaluate(
        gov, model="churn", version="2.0.0", dataset="holdout", actor="alice", now=now
    )

    assert not run.decision.passed
    failed = {check.name: check.reason for check in run.decision.failures}
    assert failed["threshold:accuracy"].startswith("accuracy 0.6274 < 0.85")
    assert "below production 1.0.0" in failed["regression:accuracy"]
    assert evaluation.get_run(gov, run.id).decision == run.decision
    (event,) = audit.history(gov, event_type="model.evaluated")
    assert event.details["passed"] is False
    assert {f["check"] for f in event.details["failures"]} == set(failed)


def test_production_version_has_no_baseline_against_itself(
    gov, tmp_path, now, churn_model, example_card, model_bytes
):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    add_dataset(gov, tmp_path, now)

    run = evaluation.evaluate(
        gov, model="churn", version="1.0.0", dataset="holdout", actor="alice", now=now
    )

    assert run.result.baseline is None and run.result.baseline_version is None
    assert not any(check.name.startswith("regression:") for check in run.decision.checks)
    assert [r.id for r in evaluation.runs_of(gov, "churn", "1.0.0")] == [run.id]


@pytest.mark.parametrize("case", ["tampered", "no_dataset", "no_version"])
def test_evaluate_refusals_change_nothing(
    gov, tmp_path, now, churn_model, example_card, model_bytes, case
):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    dataset = add_dataset(gov, tmp_path, now)
    args = {"model": "churn", "version": "1.0.0", "dataset": "holdout"}
    if case == "tampered":
        path = gov.artifacts.path_for(dataset.digest)
        path.chmod(0o644)
        path.write_bytes(path.read_bytes().replace(b"clinic", b"clinix", 1))
    elif case == "no_dataset":
        args["dataset"] = "nosuch"
    else:
        args["version"] = "9.9.9"
    error = {"tampered": DigestMismatch, "no_dataset": DatasetNotFound}.get(case, VersionNotFound)
    before = snapshot(gov)

    with pytest.raises(error):
        evaluation.evaluate(gov, **args, actor="alice", now=now)

    assert snapshot(gov) == before


def test_unknown_run_is_not_found(gov):
    with pytest.raises(NotFound, match="unknown evaluation run 'nope'"):
        evaluation.get_run(gov, "nope")


def add_ungrouped_dataset(gov, tmp_path, now):
    """Breast cancer with its label and no group column, registered as `ungrouped`."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    path = tmp_path / "ungrouped.csv"
    features.assign(label=target.to_numpy()).to_csv(path, index=False)
    return datasets.register_dataset(
        gov, name="ungrouped", path=path, target="label", actor="alice", now=now
    )


def at_risk(churn_model, example_card, risk, *, groups=True):
    """The churn model at `risk`, and the example card at that risk, with or without its groups."""
    card = example_card.model_copy(update={"risk_level": risk})
    if not groups:
        card = card.model_copy(update={"performance_by_group": {}})
    return churn_model.model_copy(update={"risk_level": risk}), card


NOT_APPLICABLE = (
    "fairness gap not applicable: the card declares no groups and the dataset has no group "
    "column (risk level low is not in require_groups_at: high, critical)"
)


def test_low_risk_card_without_groups_on_an_ungrouped_dataset_passes_not_applicable(
    gov, tmp_path, now, churn_model, example_card, model_bytes
):
    model, card = at_risk(churn_model, example_card, RiskLevel.low, groups=False)
    register(gov, model, card, model_bytes[1], "1.0.0", now)
    add_ungrouped_dataset(gov, tmp_path, now)

    run = evaluation.evaluate(
        gov, model="churn", version="1.0.0", dataset="ungrouped", actor="alice", now=now
    )

    (fairness,) = [check for check in run.decision.checks if check.name == "fairness_gap"]
    assert fairness == ThresholdCheck(
        name="fairness_gap",
        passed=True,
        applicable=False,
        observed=None,
        limit=0.1,
        reason=NOT_APPLICABLE,
    )
    assert run.decision.passed and run.decision.failures == []
    assert run.decision.summary() == (
        "gate passed: 4 of 5 checks passed, 1 not applicable (fairness_gap)"
    )
    stored = evaluation.get_run(gov, run.id)
    assert stored == run and stored.decision.not_applicable == [fairness]
    (event,) = audit.history(gov, event_type="model.evaluated")
    assert event.details["passed"] is True and event.details["failures"] == []
    assert event.details["not_applicable"] == [{"check": "fairness_gap", "reason": NOT_APPLICABLE}]
    view = versions.show(gov, "churn@1.0.0")
    assert event.details["risk_level"] == "low"
    assert event.details["card_hash"] == view.card.card_hash and audit.verify_chain(gov).ok
    row = f"| fairness_gap | - | 0.1 | not applicable | {NOT_APPLICABLE} |"
    assert row in gate_report_markdown(run.decision, run.result).splitlines()
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.0.0",
        target=S.staging,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=run.id,
        now=now,
    )
    form = approval_form_markdown(request, view.model, view.card.card, run.decision, run.result)
    assert row in form.splitlines()


def declared(example_card) -> str:
    return ", ".join(sorted(example_card.performance_by_group))


@pytest.mark.parametrize(
    ("risk", "groups", "why"),
    [
        (RiskLevel.low, True, "the card declares groups ({declared})"),
        (
            RiskLevel.high,
            False,
            "the policy requires groups at risk level high (require_groups_at: high, critical)",
        ),
        (
            RiskLevel.critical,
            True,
            "the card declares groups ({declared}) and the policy requires groups at risk "
            "level critical (require_groups_at: high, critical)",
        ),
    ],
    ids=["declared", "required", "both"],
)
def test_declared_or_required_groups_on_an_ungrouped_dataset_fail_the_gate(
    gov, tmp_path, now, churn_model, example_card, model_bytes, risk, groups, why
):
    model, card = at_risk(churn_model, example_card, risk, groups=groups)
    register(gov, model, card, model_bytes[1], "1.0.0", now)
    add_ungrouped_dataset(gov, tmp_path, now)

    run = evaluation.evaluate(
        gov, model="churn", version="1.0.0", dataset="ungrouped", actor="alice", now=now
    )

    reason = "fairness gap not computed: the dataset has no group column, but " + why.format(
        declared=declared(example_card)
    )
    assert run.decision.failures == [
        ThresholdCheck(name="fairness_gap", passed=False, limit=0.1, reason=reason)
    ]
    assert run.decision.not_applicable == []
    assert evaluation.get_run(gov, run.id).decision == run.decision
    (event,) = audit.history(gov, event_type="model.evaluated")
    assert event.details["passed"] is False and event.details["not_applicable"] == []
    assert event.details["failures"] == [{"check": "fairness_gap", "reason": reason}]
    assert event.details["risk_level"] == risk.value
