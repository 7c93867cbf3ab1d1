"""The audit trail on real SQLite and PostgreSQL: append-only triggers, MACs that a database
writer without the key cannot forge, and history queries.

The helpers here (trail, tamper, drop_triggers, rechain_from, forge_event) are what an
attacker with write access to the database but not the key file does; the other
test_audit_* modules import them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from seeding import seed_move_in

from governance.domain.audit import GENESIS_HASH, MAC_PURPOSE, canonical_event, chain_hash
from governance.domain.errors import ChainBroken, ModelNotFound
from governance.domain.models import LifecycleStage
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit

ROWS = "SELECT seq, id, ts, event_type, model, version, actor, details, prev_hash, hash, mac"
ROWS += " FROM audit_events ORDER BY seq"


def register(gov, model, card, data, version, now):
    spec = VersionSpec(
        name=model.name,
        version=version,
        created_by="alice",
        training_data_version="d1",
        training_pipeline="train.py",
    )
    return versions.register_version(gov, spec, card, artifact=data, now=now, new_model=model)


def stage(gov, name: str, version: str, target: LifecycleStage, now) -> None:
    """The move promote-model makes once its gate and approvals pass (same event, same rows)."""
    with gov.store.write() as tx:
        seed_move_in(tx, name, version, target, actor="bob", now=now)


@pytest.fixture
def trail(gov, churn_model, example_card, model_bytes, now):
    """Eight events an hour apart over two models; returns the time of each, by seq."""
    fraud = churn_model.model_copy(update={"name": "fraud"})
    at = [now + timedelta(hours=h) for h in range(5)]
    # seq 1 is policy.loaded: the first write under the policy records it.
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", at[0])  # seq 1, 2, 3
    register(gov, churn_model, example_card, model_bytes[1], "1.1.0", at[1])  # seq 4
    versions.set_alias(gov, "churn", "champion", "1.0.0", actor="bob", now=at[2])  # seq 5
    register(gov, fraud, example_card, model_bytes[2], "0.1.0", at[3])  # seq 6, 7
    stage(gov, "churn", "1.1.0", LifecycleStage.staging, at[4])  # seq 8
    return {1: at[0], 2: at[0], 3: at[0], 4: at[1], 5: at[2], 6: at[3], 7: at[3], 8: at[4]}


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
    prev = table[first - 2][9] if first > 1 else GENESIS_HASH
    for seq, eid, ts, etype, model, version, actor, details, *_ in table[first - 1 :]:
        digest = chain_hash(
            prev, canonical_event(seq, eid, ts, etype, model, version, actor, details)
        )
        tamper(
            gov,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s",
            {"p": prev, "h": digest, "s": seq},
        )
        prev = digest


def forge_event(gov, event_type: str, details: str, mac: str | None, **subject) -> int:
    """Append an event chained by the published rule (sha256), without the MAC key."""
    *_, head_hash, _ = rows(gov)[-1]
    seq = len(rows(gov)) + 1
    fields = (seq, f"forged-{seq}", "2026-11-24T00:00:00.000000Z", event_type)
    fields += (subject.get("model"), subject.get("version"), "mallory", details)
    digest = chain_hash(head_hash, canonical_event(*fields))
    tamper(
        gov,
        "INSERT INTO audit_events (seq, id, ts, event_type, model, version, actor, details,"
        " prev_hash, hash, mac) VALUES (:s, :i, :t, :e, :m, :v, :a, :d, :p, :h, :mac)",
        dict(zip("sitemvad", fields, strict=True)) | {"p": head_hash, "h": digest, "mac": mac},
    )
    return seq


def broken(gov, match: str) -> str:
    """Full verification must refuse with ChainBroken; returns the message."""
    with pytest.raises(ChainBroken, match=match) as info:
        audit.verify(gov)
    report = audit.verify_chain(gov)
    assert not report.ok
    return str(info.value)


REFUSED = {
    "update": "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
    "delete": "DELETE FROM audit_events WHERE seq = 2",
    "update_all": "UPDATE audit_events SET details = '{}'",
    "delete_all": "DELETE FROM audit_events",
    "update_mac": "UPDATE audit_events SET mac = NULL WHERE seq = 7",
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


def test_every_event_carries_the_mac_of_its_hash_and_the_trail_verifies(gov, trail):
    table = rows(gov)
    assert [r[10] for r in table] == [gov.keyring.mac(MAC_PURPOSE, r[9]) for r in table]
    report = audit.verify(gov)
    assert report.chain.ok and report.chain.macs_checked
    assert report.chain.verified == len(trail) == len(table)
    assert report.chain.head_seq == 8 and report.chain.head_hash == table[-1][9]
    # 2 models, 3 versions, 3 first card revisions, 1 alias
    assert report.state_rows == 9 and report.checkpoints == 0


@pytest.mark.parametrize(
    ("mac", "words"), [(None, "has no MAC"), ("ab" * 32, "MAC does not match")]
)
def test_a_forged_appended_event_is_named(gov, trail, mac, words):
    details = '{"from":"staging","to":"production"}'
    seq = forge_event(gov, "model.stage_changed", details, mac, model="churn", version="1.1.0")
    assert seq == 9
    message = broken(gov, f"at event 9: event 9: {words} \\(written without the key\\)")
    assert message.startswith("audit chain broken")
    assert audit.verify_chain(gov).broken_seq == 9


def test_an_edited_and_rechained_event_is_named_by_its_mac(gov, trail):
    drop_triggers(gov)
    tamper(gov, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    rechain_from(gov, 3)
    assert audit.verify_chain(gov).verified == 2
    broken(gov, r"^audit chain broken at event 3: event 3: MAC does not match \(written without")


def test_an_edited_event_left_unchained_is_named_by_its_hash(gov, trail):
    drop_triggers(gov)
    tamper(
        gov,
        "UPDATE audit_events SET details = REPLACE(details, 'champion', 'challenger')"
        " WHERE seq = 5",
    )
    broken(gov, "^audit chain broken at event 5: event 5: content does not match its hash$")
    assert audit.verify_chain(gov).broken_seq == 5


def test_a_removed_event_is_named(gov, trail):
    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE seq = 2")
    broken(gov, r"^audit chain broken at event 2: event 2 is missing \(found 3\)$")
    assert audit.verify_chain(gov).broken_seq == 2


def test_a_removed_event_renumbered_and_rechained_is_named_by_its_mac(gov, trail):
    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE seq = 2")
    for seq in range(3, 9):
        tamper(gov, "UPDATE audit_events SET seq = :n WHERE seq = :s", {"n": seq - 1, "s": seq})
    rechain_from(gov, 2)
    assert [r[0] for r in rows(gov)] == list(range(1, 8))
    broken(gov, "at event 2: event 2: MAC does not match")


def test_reordered_events_are_named_by_their_mac(gov, trail):
    drop_triggers(gov)
    for old, new in ((3, -1), (4, 3), (-1, 4)):
        tamper(gov, "UPDATE audit_events SET seq = :n WHERE seq = :o", {"n": new, "o": old})
    rechain_from(gov, 3)
    broken(gov, "at event 3: event 3: MAC does not match")
    assert audit.verify_chain(gov).broken_seq == 3


def test_swapped_hashes_are_named(gov, trail):
    drop_triggers(gov)
    hashes = {r[0]: (r[9], r[10]) for r in rows(gov)}
    for seq, other in ((2, 3), (3, 2)):
        digest, mac = hashes[other]
        tamper(
            gov,
            "UPDATE audit_events SET hash = :h, mac = :m WHERE seq = :s",
            {"h": digest, "m": mac, "s": seq},
        )
    broken(gov, "^audit chain broken at event 2: event 2: content does not match its hash$")
    assert audit.verify_chain(gov).broken_seq == 2


def test_a_chain_written_with_another_key_file_fails_at_event_1(gov, trail):
    gov.keyring.path.write_bytes(bytes(32))
    gov.keyring.reload()  # the keyring reads its file once
    broken(gov, r"at event 1: event 1: MAC does not match \(written without the key\)")
    assert audit.verify_chain(gov).broken_seq == 1


def test_history_by_model_and_version(gov, trail):
    churn = audit.history(gov, model="churn")
    assert {e.model for e in churn} == {"churn"} and [e.seq for e in churn] == [2, 3, 4, 5, 8]
    fraud = audit.history(gov, model="fraud")
    assert [e.event_type for e in fraud] == ["model.registered", "model.version_registered"]
    v110 = audit.history(gov, model="churn", version="1.1.0")
    assert [e.event_type for e in v110] == ["model.version_registered", "model.stage_changed"]
    assert v110[1].details["to"] == "staging" and v110[1].actor == "bob"
    assert v110[1].mac == gov.keyring.mac(MAC_PURPOSE, v110[1].hash)
    with pytest.raises(ModelNotFound, match="nosuch"):
        audit.history(gov, model="nosuch")


def test_history_by_type_and_time_range(gov, trail):
    registered = audit.history(gov, event_type="model.version_registered")
    assert [(e.model, e.version) for e in registered] == [
        ("churn", "1.0.0"),
        ("churn", "1.1.0"),
        ("fraud", "0.1.0"),
    ]
    since, until = trail[4], trail[6]
    window = audit.history(gov, since=since, until=until)
    assert [e.seq for e in window] == [s for s, at in trail.items() if since <= at < until]
    typed = audit.history(gov, event_type="model.version_registered", since=since)
    assert [e.version for e in typed] == ["1.1.0", "0.1.0"]
    assert audit.history(gov, until=trail[1]) == []
    assert all(e.details for e in window) and all(len(e.hash) == 64 for e in window)
