"""Monitoring data on real SQLite and PostgreSQL: reference profiles, ingested batches, outcomes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from monitorkit import FEATURES, batch_frame

from governance.domain.errors import Conflict, InvalidInput, NotFound
from governance.services.monitoring import batches, references
from governance.services.trust import audit


def state(gov):
    """Batches, references, outcomes and monitoring events: what a refusal must leave alone."""
    with gov.store.read() as tx:
        events = [e.event_type for e in tx.audit.query() if e.event_type.startswith("monitoring.")]
        outcomes = tx.conn.exec_driver_sql("SELECT count(*) FROM outcomes").scalar_one()
        batches = tx.conn.exec_driver_sql("SELECT count(*) FROM monitoring_batches").scalar_one()
    return events, outcomes, batches


def test_the_gate_dataset_becomes_the_reference_once(monitored_world, now, tmp_path):
    w = monitored_world
    found, profile = references.get_reference(w.gov, "churn", "1.0.0")
    assert profile.columns == FEATURES
    assert (profile.n_rows, profile.source, profile.created_by) == (569, "dataset:holdout", "alice")
    assert profile.stats["columns"]["mean radius"]["kind"] == "num"
    assert w.gov.artifacts.read_verified(profile.digest)  # the sample itself is stored
    again = references.reference_from_dataset(
        w.gov, found=found, dataset="holdout", actor="alice", now=now
    )
    assert again is None
    batch_frame(w.frame, rows=50).to_csv(tmp_path / "ref.csv", index=False)
    with pytest.raises(Conflict, match=r"churn@1.0.0 already has a reference sample \(dataset"):
        references.set_reference(
            w.gov, model="churn", version="1.0.0", path=tmp_path / "ref.csv", actor="bob", now=now
        )
    stored = audit.history(w.gov, event_type="monitoring.reference_stored", model="churn")
    assert [(e.version, e.details["rows"]) for e in stored] == [("1.0.0", 569), ("1.1.0", 569)]


def test_a_version_without_a_reference_is_named(monitored_world):
    with pytest.raises(NotFound, match=r"churn@1.2.0 has no reference sample"):
        references.get_reference(monitored_world.gov, "churn", "1.2.0")


def _bad_batches(frame: pd.DataFrame, path):
    good = batch_frame(frame, rows=60, labels=True)
    yield (
        "columns",
        good.drop(columns=["mean radius"]).assign(extra=1),
        (
            r"batch bad.csv does not match the reference columns: missing mean radius; "
            r"unexpected extra"
        ),
    )
    yield "empty", good.iloc[0:0], r"batch bad.csv is empty: no rows to monitor"
    yield (
        "word label",
        good.assign(label=["yes"] + [1] * 59),
        (
            r"churn@1.0.0: label 'yes' at row 0 is not numeric: the model is a classifier with "
            r"classes \[0, 1\]"
        ),
    )
    yield (
        "unknown class",
        good.assign(label=[7] + [1] * 59),
        (r"churn@1.0.0: label 7 at row 0 is not one of the model's classes \[0, 1\]"),
    )
    yield "bad time", good.assign(when=["soon"] * 60), r"time column 'when' is not readable"


def test_bad_batches_are_refused_and_change_nothing(monitored_world, now, tmp_path):
    """Every bad batch on one world (a refusal changes nothing, so the next starts clean)."""
    w = monitored_world
    before = state(w.gov)
    cases = list(_bad_batches(w.frame, tmp_path))
    assert [c[0] for c in cases] == ["columns", "empty", "word label", "unknown class", "bad time"]
    for case, frame, words in cases:
        frame.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(InvalidInput, match=words):
            batches.ingest(
                w.gov,
                model="churn",
                version="1.0.0",
                path=tmp_path / "bad.csv",
                labels="label",
                time_column="when" if case == "bad time" else None,
                actor="bob",
                now=now,
            )
        assert state(w.gov) == before, case


def test_a_batch_is_stored_content_addressed_and_audited_once(monitored_world, now, tmp_path):
    w = monitored_world
    batch_frame(w.frame, rows=80, labels=True).to_parquet(tmp_path / "b.parquet")
    ingest = dict(model="churn", version="1.0.0", path=tmp_path / "b.parquet", labels="label")
    batch = batches.ingest(w.gov, **ingest, actor="bob", now=now)
    assert (batch.n_rows, batch.n_labels, batch.ingested_by) == (80, 80, "bob")
    stored = references.load_stored_frame(w.gov, batch.digest)
    assert list(stored.columns) == [*FEATURES, "__prediction", "__label", "__time"]
    assert set(stored["__prediction"]) <= {0, 1}
    [event] = audit.history(w.gov, event_type="monitoring.ingested", model="churn")
    assert (event.actor, event.details["batch"], event.details["rows"]) == ("bob", batch.id, 80)
    with pytest.raises(Conflict, match=f"already ingested for churn@1.0.0 as batch {batch.id}"):
        batches.ingest(w.gov, **ingest, actor="bob", now=now)


def test_outcomes_name_unknown_ids_and_record_all_or_nothing(monitored_world, now, tmp_path):
    w = monitored_world
    ids = [str(uuid.uuid4()) for _ in range(3)]
    with w.gov.store.write() as tx:
        tx.predictions.insert_many(
            {
                "id": i,
                "endpoint": "churn-api",
                "version": "1.0.0",
                "variant": "stable",
                "bucket": 1,
                "features": {},
                "output": 1,
                "latency_ms": 1.0,
                "status": "ok",
                "created_at": now,
            }
            for i in ids
        )
    before = state(w.gov)
    ghost = str(uuid.uuid4())
    pd.DataFrame({"prediction_id": [*ids, ghost], "label": [1, 0, 1, 1]}).to_csv(
        tmp_path / "o.csv", index=False
    )
    record = dict(path=tmp_path / "o.csv", id_column="prediction_id", label_column="label")
    with pytest.raises(InvalidInput, match=f"1 labels name unknown prediction ids: {ghost}"):
        batches.record_outcomes(w.gov, **record, actor="bob", now=now)
    pd.DataFrame({"prediction_id": ids, "label": [1, "spam", 0]}).to_csv(
        tmp_path / "o.csv", index=False
    )
    with pytest.raises(InvalidInput, match=r"churn@1\.0\.0: label 'spam' at row 1 is not numeric"):
        batches.record_outcomes(w.gov, **record, actor="bob", now=now)
    assert state(w.gov) == before
    pd.DataFrame({"prediction_id": ids, "label": [1, 0, 0]}).to_csv(tmp_path / "o.csv", index=False)
    assert batches.record_outcomes(w.gov, **record, actor="bob", now=now) == 3
    with w.gov.store.read() as tx:
        rows = tx.monitoring.served_rows("churn", "1.0.0", now - timedelta(days=1), now)
    assert sorted(label for *_, label in rows) == [0, 0, 1]
    # The same file again changes nothing; a different label for a recorded outcome is refused.
    assert batches.record_outcomes(w.gov, **record, actor="bob", now=now) == 3
    recorded = state(w.gov)
    pd.DataFrame({"prediction_id": ids, "label": [1, 1, 0]}).to_csv(tmp_path / "o.csv", index=False)
    with pytest.raises(Conflict) as refused:
        batches.record_outcomes(w.gov, **record, actor="bob", now=now)
    assert str(refused.value) == (
        "1 labels differ from the outcomes already recorded, and the first outcome recorded"
        f" stands; nothing was recorded: {ids[1]} (recorded 0, file 1)"
    )
    assert state(w.gov) == recorded
    with w.gov.store.read() as tx:
        rows = tx.monitoring.served_rows("churn", "1.0.0", now - timedelta(days=1), now)
    assert sorted(label for *_, label in rows) == [0, 0, 1]


def test_rows_carry_their_own_time_when_a_time_column_is_given(monitored_world, now, tmp_path):
    w = monitored_world
    frame = batch_frame(w.frame, rows=40, labels=True)
    frame["when"] = [(now - timedelta(days=int(d))).isoformat() for d in np.arange(40) % 10]
    frame.to_csv(tmp_path / "t.csv", index=False)
    batch = batches.ingest(
        w.gov,
        model="churn",
        version="1.0.0",
        path=tmp_path / "t.csv",
        labels="label",
        time_column="when",
        actor="bob",
        now=now,
    )
    assert (batch.first_at, batch.last_at) == (now - timedelta(days=9), now)
    frame["when"] = (now + timedelta(days=1)).isoformat()
    frame.to_csv(tmp_path / "future.csv", index=False)
    with pytest.raises(InvalidInput, match="time column 'when' has empty or future timestamps"):
        batches.ingest(
            w.gov,
            model="churn",
            version="1.0.0",
            path=tmp_path / "future.csv",
            labels="label",
            time_column="when",
            actor="bob",
            now=now,
        )
