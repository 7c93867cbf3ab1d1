"""The audit trail on real SQLite and PostgreSQL: append-only triggers, tamper detection,
checkpoints against whole-table rewrites, and history queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from governance.domain.audit import canonical_event, chain_hash
from governance.domain.errors import ModelNotFound
from governance.domain.models import LifecycleStage
from governance.services import audit, registry
from governance.services.registry import VersionSpec

ROWS = "SELECT seq, id, ts, event_type, model, version, actor, details, prev_hash, hash"
ROWS += " FROM audit_events ORDER BY seq"


def register(gov, model, card, data, version, now):
    spec = VersionSpec(
        name=model.name,
        version=version,
        created_by="alice",
        training_data_version="d1",
        training_pipeline="train.py",
    )
    return registry.register_version(gov, spec, card, artifact=data, now=now, new_model=model)


@pytest.fixture
def trail(gov, churn_model, example_card, model_bytes, now):
    """Seven events an hour apart over two models; returns the time of each, by seq."""
    fraud = churn_model.model_copy(update={"name": "fraud"})
    at = [now + timedelta(hours=h) for h in range(5)]
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", at[0])  # seq 1, 2
    register(gov, churn_model, example_card, model_bytes[1], "1.1.0", at[1])  # seq 3
    registry.set_alias(gov, "churn", "champion", "1.0.0", actor="bob", now=at[2])  # seq 4
    register(gov, fraud, example_card, model_bytes[2], "0.1.0", at[3])  # seq 5, 6
    registry.transition(gov, "churn", "1.1.0", LifecycleStage.staging, actor="bob", now=at[4])
    return {1: at[0], 2: at[0], 3: at[1], 4: at[2], 5: at[3], 6: at[3], 7: at[4]}


def rows(gov) -> list[tuple]:
    with gov.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(ROWS)]


def tamper(gov, sql: str, params: dict | None = None) -> None:
    with gov.engine.begin() as conn:
        conn.execute(sa.text(sql), params or {})


def drop_triggers(gov) -> None:
    """What an attacker with database access does first."""
    if gov.store.is_postgres:
        tamper(gov, "DROP TRIGGER audit_events_no_change ON audit_events")
    else:
        tamper(gov, "DROP TRIGGER audit_events_no_update")
        tamper(gov, "DROP TRIGGER audit_events_no_delete")


def rechain_from(gov, first: int) -> None:
    """Rewrite hashes from `first` on so the whole table chains again (a careful forger)."""
    table = rows(gov)
    prev = table[first - 2][9] if first > 1 else "0" * 64
    for seq, eid, ts, etype, model, version, actor, details, _, _ in table[first - 1 :]:
        digest = chain_hash(
            prev, canonical_event(seq, eid, ts, etype, model, version, actor, details)
        )
        tamper(
            gov,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            {"p": prev, "h": digest, "s": seq},
        )
        prev = digest


REFUSED = {
    "update": "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
    "delete": "DELETE FROM audit_events WHERE seq = 2",
    "update_all": "UPDATE audit_events SET details = '{}'",
    "delete_all": "DELETE FROM audit_events",
}


@pytest.mark.parametrize("statement", sorted(REFUSED))
def test_triggers_refuse_changes(statement, gov, trail):
    before = rows(gov)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        tamper(gov, REFUSED[statement])
    assert rows(gov) == before and len(before) == len(trail)
    assert audit.verify_chain(gov).ok


def test_postgres_refuses_truncate(gov, trail):
    if not gov.store.is_postgres:
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    before = rows(gov)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        tamper(gov, "TRUNCATE audit_events")
    assert rows(gov) == before


def test_intact_chain_verifies(gov, trail):
    report = audit.verify_chain(gov)
    table = rows(gov)
    assert report.ok and report.verified == len(trail) == len(table)
    assert report.head_seq == table[-1][0] and report.head_hash == table[-1][9]
    assert [r[0] for r in table] == list(range(1, len(trail) + 1))


def swap_hashes(gov, first: int, second: int) -> None:
    hashes = {r[0]: r[9] for r in rows(gov)}
    for seq, other in ((first, second), (second, first)):
        tamper(
            gov, "UPDATE audit_events SET hash = :h WHERE seq = :s", {"h": hashes[other], "s": seq}
        )


TAMPERING = {
    "changed_field": (
        lambda gov: tamper(gov, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"),
        3,
        "content does not match",
    ),
    "changed_details": (
        lambda gov: tamper(
            gov,
            "UPDATE audit_events SET details = REPLACE(details, 'champion', 'challenger')"
            " WHERE seq = 4",
        ),
        4,
        "content does not match",
    ),
    "removed_row": (
        lambda gov: tamper(gov, "DELETE FROM audit_events WHERE seq = 2"),
        2,
        "missing",
    ),
    "swapped_hashes": (lambda gov: swap_hashes(gov, 2, 3), 2, "content does not match"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_verify_names_tampered_event(case, gov, trail):
    change, broken, reason = TAMPERING[case]
    drop_triggers(gov)
    before = rows(gov)
    change(gov)
    assert rows(gov) != before
    report = audit.verify_chain(gov)
    assert not report.ok
    assert report.broken_seq == broken and reason in report.reason
    assert str(broken) in report.reason
    assert report.verified == broken - 1


def test_rewrite_passes_verify_but_not_checkpoint(gov, trail, now):
    taken = audit.checkpoint(gov, now + timedelta(days=1))
    assert taken.seq == len(trail) and audit.verify_chain(gov, [taken]).ok
    drop_triggers(gov)
    tamper(gov, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    rechain_from(gov, 3)

    alone = audit.verify_chain(gov)
    assert alone.ok and alone.verified == len(trail) and alone.head_hash != taken.hash
    report = audit.verify_chain(gov, [taken])
    assert not report.ok and report.broken_seq == taken.seq
    assert "differs from the checkpoint" in report.reason and taken.taken_at in report.reason


def test_truncated_tail_is_caught_by_checkpoint(gov, trail, now):
    taken = audit.checkpoint(gov, now + timedelta(days=1))
    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE seq >= 6")
    assert audit.verify_chain(gov).ok
    report = audit.verify_chain(gov, [taken])
    assert not report.ok and report.broken_seq == taken.seq
    assert "no longer exists" in report.reason


def test_earlier_checkpoint_still_agrees_after_appends(gov, trail, example_card, now):
    taken = audit.checkpoint(gov, now + timedelta(days=1))
    registry.set_alias(gov, "fraud", "champion", "0.1.0", actor="bob", now=now + timedelta(days=2))
    report = audit.verify_chain(gov, [taken])
    assert report.ok and report.head_seq == taken.seq + 1


def test_history_by_model_and_version(gov, trail):
    churn = audit.history(gov, model="churn")
    assert {e.model for e in churn} == {"churn"} and [e.seq for e in churn] == [1, 2, 3, 4, 7]
    fraud = audit.history(gov, model="fraud")
    assert [e.event_type for e in fraud] == ["model.registered", "model.version_registered"]
    v110 = audit.history(gov, model="churn", version="1.1.0")
    assert [e.event_type for e in v110] == ["model.version_registered", "model.stage_changed"]
    assert v110[1].details["to"] == "staging" and v110[1].actor == "bob"
    with pytest.raises(ModelNotFound, match="nosuch"):
        audit.history(gov, model="nosuch")


def test_history_by_type_and_time_range(gov, trail):
    registered = audit.history(gov, event_type="model.version_registered")
    assert [(e.model, e.version) for e in registered] == [
        ("churn", "1.0.0"),
        ("churn", "1.1.0"),
        ("fraud", "0.1.0"),
    ]
    since, until = trail[3], trail[5]
    window = audit.history(gov, since=since, until=until)
    assert [e.seq for e in window] == [s for s, at in trail.items() if since <= at < until]
    typed = audit.history(gov, event_type="model.version_registered", since=since)
    assert [e.version for e in typed] == ["1.1.0", "0.1.0"]
    assert audit.history(gov, until=trail[1]) == []
    assert all(e.details for e in window) and all(len(e.hash) == 64 for e in window)
