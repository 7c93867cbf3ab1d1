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
from governance.domain.models import LifecycleStage
from governance.services.promotion import evaluation
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
