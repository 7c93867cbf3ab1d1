"""`governance monitoring ...` and `governance audit-retirement`: lines users read, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    # A second audit as of a day after the first, whatever day the suite runs: the latest one
    # is the one status shows. (A fixed date stops being the latest once it has passed.)
    later = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    assert run(["audit-retirement", "--now", "--at", later.strftime("%Y-%m-%dT%H:%M:%S")]) == 0
    capsys.readouterr()
    assert run(["monitoring", "status", "churn"]) == 0
    row = table_row(capsys.readouterr().out, "churn@1.0.0")
    assert row[1].startswith("re-validate")
    assert row[-1] == later.strftime("%Y-%m-%d %H:%M")  # a naive --at is UTC
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


# --- `monitoring status --columns` and `--json`: the per-column drift records ----------------
# Imports stay inside these helpers so the block above is left exactly as it is.

AUDITED_AT = "2026-03-15T00:00:00+00:00"  # a fixed audit time, in the past of any clock
RETYPED = "mean texture"  # int64 with 8 values in the reference; float64 with gaps in the batch


def retyped_frames(workdir: Path) -> tuple:
    """(reference, batch): 1.1.0's reference with RETYPED as integers, a shifted batch where
    RETYPED arrives as floats with gaps; both written as CSV files in `workdir`."""
    import numpy as np
    import pandas as pd

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(21)
    reference = x[FEATURES].assign(**{RETYPED: rng.integers(0, 8, len(x))})
    batch = batch_frame(x.assign(label=y.to_numpy()), rows=200, labels=True, shift=12)
    codes = rng.choice(8, len(batch), p=[0.5, *[0.5 / 7] * 7]).astype(float)
    codes[::7] = np.nan
    batch[RETYPED] = codes
    batch["prediction"] = batch["label"]
    times = pd.Timestamp(AUDITED_AT) - pd.to_timedelta(np.arange(len(batch)) % 72, unit="h")
    batch["time"] = times.strftime("%Y-%m-%dT%H:%M:%SZ")
    reference.to_csv(workdir / "reference-1.1.0.csv", index=False)
    batch.to_csv(workdir / "batch-1.1.0.csv", index=False)
    return (
        pd.read_csv(workdir / "reference-1.1.0.csv"),
        pd.read_csv(workdir / "batch-1.1.0.csv")[FEATURES],
    )


@pytest.fixture
def retyped(workdir, capsys) -> tuple:
    """churn 1.1.0 in staging with its own reference and one ingested batch: the two frames."""
    assert run(["models", "register", "churn", "1.1.0", "--artifact", "m2.skops",
                "--card", "card-1.1.0.yaml"]) == 0  # fmt: skip
    seed("1.1.0", S.staging)
    frames = retyped_frames(workdir)
    assert run(["monitoring", "reference", "churn", "1.1.0", "--set", "reference-1.1.0.csv"]) == 0
    assert run(["monitoring", "ingest", "churn", "1.1.0", "batch-1.1.0.csv", "--labels", "label",
                "--predictions", "prediction", "--time", "time"]) == 0  # fmt: skip
    capsys.readouterr()
    return frames


def audit_both() -> dict:
    """Audit churn 1.0.0 and 1.1.0 at AUDITED_AT through the service; version -> its row."""
    from datetime import datetime

    from governance.bootstrap import open_governance
    from governance.services.monitoring.retirement_audit import audit_version

    gov = open_governance()
    try:
        return {
            v: audit_version(
                gov, "churn", v, audit_run="audit-1", now=datetime.fromisoformat(AUDITED_AT)
            )[0]
            for v in ("1.0.0", "1.1.0")
        }
    finally:
        gov.close()


def evidently_columns(reference, current) -> dict:
    """Evidently's own DataDriftPreset Report on the same frames: column -> its record."""
    from governance.ml.drift import evidently_verdicts

    return {v.column: v.model_dump() for v in evidently_verdicts(reference, current)}


def test_status_columns_shows_each_columns_drift_as_evidently_reports_it(retyped, capsys):
    assert run(["monitoring", "status", "churn", "--columns"]) == 0
    assert capsys.readouterr().out == (
        "no audit results yet: run `governance audit-retirement --now`\n"
    )
    audited = audit_both()
    assert run(["monitoring", "status", "churn", "--columns"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # 1.0.0 served nothing in the window: no drift test, and the line says why.
    assert lines[0] == (
        "churn@1.0.0: no drift test in its latest audit (2026-03-15 00:00): insufficient rows "
        "for drift: 0 of 100 needed over the last 7 days"
    )
    assert lines[1].strip() == "churn@1.1.0 drift per column, audit of 2026-03-15 00:00"
    header = [c.strip() for c in lines[3].strip("┃ ").split("┃")]
    assert header == ["column", "type", "method", "score", "threshold", "drifted"]
    theirs = evidently_columns(*retyped)
    assert theirs[RETYPED]["kind"] == "num" and theirs[RETYPED]["reference_kind"] == "cat"
    for column in FEATURES:
        other = theirs[column]
        kind = other["kind"]
        if other["reference_kind"] != kind:
            kind = f"{kind} (reference: {other['reference_kind']})"
        assert table_row(out, column) == [
            column,
            kind,
            other["method"],
            f"{other['score']:.4g}",
            f"{other['threshold']:.4g}",
            "yes" if other["drifted"] else "no",
        ], column
    assert table_row(out, RETYPED)[1:3] == ["num (reference: cat)", "K-S p_value"]
    drifted = [c for c in FEATURES if theirs[c]["drifted"]]
    assert drifted[:12] == FEATURES[:12]  # the shifted ones, RETYPED among them
    assert (
        lines[-1]
        == audited["1.1.0"].drift_finding()["message"]
        == (
            f"{len(drifted)} of 30 columns drifted over the last 7 days (share "
            f"{len(drifted) / 30:.2f}, at or over the limit 0.3): {', '.join(drifted)}"
        )
    )


def test_status_json_is_the_verdicts_findings_and_column_records(retyped, capsys):
    import json
    import os
    import subprocess
    import sys

    audited = audit_both()
    governance = Path(sys.executable).with_name("governance")
    done = subprocess.run(
        [str(governance), "monitoring", "status", "churn", "--json"],
        capture_output=True, text=True, env=dict(os.environ), check=False, timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    document = json.loads(done.stdout)  # valid JSON, and nothing else on stdout
    old, new = audited["1.0.0"], audited["1.1.0"]
    assert (old.verdict, new.verdict, new.successor) == ("re-validate", "retire", "1.0.0")
    columns = next(f for f in new.findings if f["check"] == "drift")["figures"]["columns"]
    assert document == {
        "versions": [
            {
                "model": "churn",
                "version": version,
                "verdict": row.verdict,
                "reason": row.reason,
                "successor": row.successor,
                "checked_at": AUDITED_AT,
                "audit_run": "audit-1",
                "report_digest": row.report_digest,
                "findings": row.findings,
                "drift_columns": None if version == "1.0.0" else columns,
            }
            for version, row in (("1.0.0", old), ("1.1.0", new))
        ]
    }
    assert new.report_digest is not None and old.report_digest is None
    # Each record: exactly these keys, and Evidently's own Report's verdict on the same frames.
    theirs = evidently_columns(*retyped)
    keys = ["column", "kind", "reference_kind", "method", "score", "threshold", "drifted"]
    assert [c["column"] for c in columns] == FEATURES
    for mine in document["versions"][1]["drift_columns"]:
        assert list(mine) == keys
        other = theirs[mine["column"]]
        assert {k: v for k, v in mine.items() if k != "score"} == {
            k: v for k, v in other.items() if k != "score"
        }
        assert abs(mine["score"] - other["score"]) <= 1e-9
    retyped_record = next(c for c in columns if c["column"] == RETYPED)
    assert retyped_record["kind"] == "num" and retyped_record["reference_kind"] == "cat"
    assert retyped_record["method"] == "K-S p_value"


def test_status_columns_and_json_refuse_an_unknown_model(workdir, retyped, capsys):
    audit_both()
    before = snapshot(workdir)
    for flag in ("--columns", "--json"):
        assert fails(["monitoring", "status", "nope", flag], capsys) == (
            "error: unknown model 'nope'"
        )
    assert snapshot(workdir) == before
    assert run(["monitoring", "status", "--json"]) == 0  # every model: churn's two versions
    import json

    document = json.loads(capsys.readouterr().out)
    assert [(v["model"], v["version"]) for v in document["versions"]] == [
        ("churn", "1.0.0"),
        ("churn", "1.1.0"),
    ]
