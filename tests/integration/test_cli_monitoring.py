"""`governance monitoring ...` and `governance audit-retirement`: lines users read, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from monitorkit import FEATURES, batch_frame
from sklearn.datasets import load_breast_cancer
from test_cli import People, fails, prepare_workdir, seed, table_row
from test_cli_governed import snapshot

from governance.cli import run
from governance.domain.models import LifecycleStage as S


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, people, database_url, capsys) -> Path:
    """churn 1.0.0 in production with a reference sample; alice is logged in; batch files."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, people, database_url)
    assert run(["models", "register", "churn", "1.0.0", "--artifact", "m1.skops",
                "--card", "card-1.0.0.yaml"]) == 0  # fmt: skip
    seed("1.0.0", S.staging, S.production)
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = x.assign(label=y.to_numpy())
    frame[FEATURES].to_csv(tmp_path / "reference.csv", index=False)
    batch_frame(frame, rows=200, labels=True, shift=12, flip=0.4).to_csv(
        tmp_path / "batch.csv", index=False
    )
    good = batch_frame(frame, rows=60, labels=True)
    good.drop(columns=["mean radius"]).to_csv(tmp_path / "narrow.csv", index=False)
    good.iloc[0:0].to_csv(tmp_path / "empty.csv", index=False)
    good.assign(label=["spam"] * 60).to_csv(tmp_path / "words.csv", index=False)
    assert run(["monitoring", "reference", "churn", "1.0.0", "--set", "reference.csv"]) == 0
    capsys.readouterr()
    return tmp_path


def test_reference_ingest_and_refusals(workdir, capsys):
    assert run(["monitoring", "reference", "churn", "1.0.0"]) == 0
    out = capsys.readouterr().out
    assert "churn@1.0.0 reference: 569 rows from file:reference.csv, sha256 " in out
    assert table_row(out, "mean radius")[:2] == ["mean radius", "num"]
    before = snapshot(workdir)
    cases = {
        ("monitoring", "ingest", "churn", "1.0.0", "narrow.csv", "--labels", "label"): (
            "error: batch narrow.csv does not match the reference columns: missing mean radius"
        ),
        ("monitoring", "ingest", "churn", "1.0.0", "empty.csv", "--labels", "label"): (
            "error: batch empty.csv is empty: no rows to monitor"
        ),
        ("monitoring", "ingest", "churn", "1.0.0", "words.csv", "--labels", "label"): (
            "error: churn@1.0.0: label 'spam' at row 0 is not numeric: the model is a classifier "
            "with classes [0, 1]"
        ),
        ("monitoring", "ingest", "churn", "9.9.9", "batch.csv"): (
            "error: model 'churn' has no version '9.9.9'"
        ),
        ("monitoring", "report", "churn", "1.0.0"): ("error: churn@1.0.0 has not been audited yet"),
        ("monitoring", "status", "nope"): "error: unknown model 'nope'",
        ("audit-retirement",): (
            "error: audit-retirement runs only with --now (the nightly run is scheduled)"
        ),
    }
    for argv, line in cases.items():
        assert fails(list(argv), capsys) == line, argv
    assert snapshot(workdir) == before
    ingest = ["monitoring", "ingest", "churn", "1.0.0", "batch.csv", "--labels", "label"]
    assert run(ingest) == 0
    assert capsys.readouterr().out.startswith("ingested batch ")
    assert fails(ingest, capsys).startswith("error: this file was already ingested for churn@1.0.0")


@pytest.mark.sqlite_only
def test_the_audit_on_demand_prints_findings_and_the_report(workdir, capsys, prefect_api):
    assert run(["monitoring", "ingest", "churn", "1.0.0", "batch.csv", "--labels", "label"]) == 0
    assert run(["monitoring", "status"]) == 0
    assert (
        "no audit results yet: run `governance audit-retirement --now`" in capsys.readouterr().out
    )
    assert run(["audit-retirement", "--now"]) == 0
    out = capsys.readouterr().out
    assert "retirement audit findings" in out
    assert "1 versions checked: 0 retain, 1 re-validate, 0 retire" in out
    row = table_row(out, "churn@1.0.0")
    assert row[1].startswith("re-validate")
    assert run(["audit-retirement", "--now", "--at", "2026-11-30T00:00:00"]) == 0
    capsys.readouterr()
    assert run(["monitoring", "status", "churn"]) == 0
    row = table_row(capsys.readouterr().out, "churn@1.0.0")
    assert row[1].startswith("re-validate") and row[-1] == "2026-11-30 00:00"  # naive is UTC
    assert run(["monitoring", "report", "churn", "1.0.0"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.suffix == ".html" and path.is_file()
    assert b"<html" in path.read_bytes()[:2000].lower()
    assert run(["approvals", "pending"]) == 0
    pending = capsys.readouterr().out
    row = table_row(pending, next(line.split("│")[1].strip() for line in pending.splitlines()
                                  if "re-validate (retirement audit)" in line))  # fmt: skip
    assert row[1:4] == ["re-validate (retirement audit)", "churn@1.0.0", "-"]
    assert row[5].startswith("its owner maria.okafor: age and accuracy and drift")
