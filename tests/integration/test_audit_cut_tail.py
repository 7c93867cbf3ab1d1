"""Issue 16 item 18: deleting the newest events after dropping the trigger, on SQLite and
PostgreSQL. Checkpoints and every anchor count the events; `audit verify --checkpoints`
names a trail shorter than its newest checkpoint, and names events deleted after the last
checkpoint with new ones appended in their place."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import test_audit_trail as kit

from governance.cli import run
from governance.domain.audit import Checkpoint
from governance.domain.errors import ChainBroken
from governance.services.registry import versions
from governance.services.trust import audit
from governance.signing import Signer, generate_keypair, write_anchor

trail = kit.trail  # the eight-event fixture (policy.loaded first)
TAKEN = "2026-11-23T12:00:00.000000Z"


@pytest.fixture
def anchored(gov, trail, now):
    """An anchor of the eight-event trail in the anchor directory: (its path, the directory)."""
    generate_keypair(gov.settings.resolved_signing_key_file)
    path, signed = audit.anchor(gov, now)
    assert (signed.seq, signed.events) == (8, 8)
    return path, path.parent


def append_aliases(gov, now, count: int) -> None:
    """New, genuine events written by the services (MACed with the key)."""
    for n in range(count):
        versions.set_alias(gov, "fraud", f"a{n}", "0.1.0", actor="bob", now=now)


def verify_cli(gov, directory, capsys, monkeypatch) -> tuple[int, str]:
    """`governance audit verify --checkpoints DIR` against this test's database."""
    for key, value in gov.settings.model_dump().items():
        if value not in (None, "", []):
            monkeypatch.setenv(f"GOVERNANCE_{key.upper()}", str(value))
    capsys.readouterr()
    code = run(["audit", "verify", "--checkpoints", str(directory)])
    captured = capsys.readouterr()
    return code, (captured.err or captured.out).strip()


def test_every_anchor_file_records_the_event_count(gov, anchored, now):
    path, _ = anchored
    assert json.loads(path.read_text())["events"] == 8
    append_aliases(gov, now, 2)
    later, signed = audit.anchor(gov, now + timedelta(minutes=5))
    assert (signed.seq, signed.events) == (10, 10)
    assert json.loads(later.read_text())["events"] == 10


def test_events_deleted_after_the_last_checkpoint_then_new_ones_appended_are_named(
    gov, anchored, now, capsys, monkeypatch
):
    path, directory = anchored
    kit.drop_triggers(gov)
    kit.tamper(gov, "DELETE FROM audit_events WHERE seq >= 6")
    append_aliases(gov, now, 3)  # seq 6, 7, 8 again, chained and MACed: the chain verifies
    assert audit.verify_chain(gov).ok and audit.verify_chain(gov).head_seq == 8
    named = (
        f"audit chain disagrees with checkpoint {path}: event 8 hash differs from the"
        f" checkpoint taken {TAKEN}: events up to event 8 were deleted after the checkpoint"
        " and new ones appended in their place, or history was rewritten"
    )
    with pytest.raises(ChainBroken, match=f"^{re.escape(named)}$"):
        audit.verify(gov, audit.load_checkpoints(directory=directory))
    assert verify_cli(gov, directory, capsys, monkeypatch) == (1, f"error: {named}")
    with pytest.raises(ChainBroken, match="event 8 hash differs"):
        audit.anchor(gov, now + timedelta(hours=1))
    assert len(list(directory.iterdir())) == 1


def test_a_trail_shorter_than_its_newest_checkpoint_is_named(
    gov, anchored, now, capsys, monkeypatch
):
    path, directory = anchored
    kit.drop_triggers(gov)
    kit.tamper(gov, "DELETE FROM audit_events WHERE seq >= 5")
    append_aliases(gov, now, 1)  # one event where four were deleted
    named = (
        f"audit chain disagrees with checkpoint {path}: the trail holds 5 events, fewer than"
        f" the 8 the checkpoint taken {TAKEN} counted: events after event 5 were deleted"
    )
    with pytest.raises(ChainBroken, match=f"^{re.escape(named)}$"):
        audit.verify(gov, audit.load_checkpoints(directory=directory))
    assert verify_cli(gov, directory, capsys, monkeypatch) == (1, f"error: {named}")


def test_a_checkpoint_from_before_counts_still_verifies(gov, trail, now, tmp_path):
    """Checkpoints signed before the count was recorded sign {hash, seq, taken_at} only."""
    key = gov.settings.resolved_signing_key_file
    generate_keypair(key)
    full = audit.checkpoint(gov, now)
    old = Signer(key).sign(Checkpoint(seq=full.seq, hash=full.hash, taken_at=full.taken_at))
    assert old.events is None and '"events"' not in old.payload()
    write_anchor(tmp_path / "old", old)
    report = audit.verify(gov, audit.load_checkpoints(directory=tmp_path / "old"))
    assert report.checkpoints == 1 and report.events_after_anchor == 0
