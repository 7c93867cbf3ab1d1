"""Exports on real SQLite and PostgreSQL: the exact hashed text of every event, verified later
with no database at all."""

from __future__ import annotations

import json

import pytest
import test_audit_trail as kit

from governance.domain.audit import canonical_event, chain_hash
from governance.domain.errors import ChainBroken
from governance.services.trust import audit

trail = kit.trail  # the eight-event fixture (seq 1 is policy.loaded)


def export(gov, path):
    path.write_text("".join(line + "\n" for line in audit.export_jsonl(gov)), encoding="utf-8")
    return path


def test_an_export_holds_the_exact_hashed_text_prev_hash_hash_and_mac(gov, trail, tmp_path):
    lines = export(gov, tmp_path / "trail.jsonl").read_text(encoding="utf-8").splitlines()
    table = kit.rows(gov)
    assert len(lines) == len(table) == 8
    for line, (*fields, prev, digest, mac) in zip(lines, table, strict=True):
        record = json.loads(line)
        assert record == {
            "seq": fields[0],
            "event": canonical_event(*fields),
            "prev_hash": prev,
            "hash": digest,
            "mac": mac,
        }
        assert chain_hash(record["prev_hash"], record["event"]) == record["hash"]


def test_an_export_verifies_without_the_database(gov, trail, tmp_path):
    path = export(gov, tmp_path / "trail.jsonl")
    head = kit.rows(gov)[-1][9]
    gov.close()
    offline = gov.settings.model_copy(update={"database_url": "postgresql+psycopg://x@256.0.0.1/x"})
    report = audit.verify_export_file(offline, path)
    assert report.chain.verified == 8 and report.chain.macs_checked
    assert report.key_file == gov.settings.resolved_secret_key_file
    assert report.chain.head_seq == 8 and report.chain.head_hash == head


def changed_byte(path, line: int, find: str) -> None:
    """Change one byte of `line` (1-based): the first character after `find`."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = lines[line - 1].index(find) + len(find)
    text = lines[line - 1]
    lines[line - 1] = text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1 :]
    path.write_text("".join(lines), encoding="utf-8")


BYTES = {
    "in the event text": (5, '\\"alias\\":\\"', "event 5: content does not match its hash"),
    "in a hash": (3, '"hash":"', "event 3: content does not match its hash"),
    "in a prev_hash": (5, '"prev_hash":"', "event 5: prev_hash does not match event 4"),
    "in a MAC": (6, '"mac":"', r"event 6: MAC does not match \(written without the key\)"),
    "in the seq": (2, '"seq":', "line 2: seq 3 where event 2 belongs"),
    "in the JSON": (7, '"', r"line 7 \(event 7\): not an export record"),
}


@pytest.mark.parametrize("case", sorted(BYTES))
def test_one_changed_byte_in_an_export_is_named(case, gov, trail, tmp_path):
    line, find, words = BYTES[case]
    path = export(gov, tmp_path / "trail.jsonl")
    changed_byte(path, line, find)
    with pytest.raises(ChainBroken, match=f"^audit chain broken at event {line}: {words}"):
        audit.verify_export_file(gov.settings, path)


def test_without_the_key_file_the_chain_is_checked_and_the_macs_are_not(gov, trail, tmp_path):
    path = export(gov, tmp_path / "trail.jsonl")
    changed_byte(path, 6, '"mac":"')
    keyless = gov.settings.model_copy(update={"secret_key_file": tmp_path / "absent.key"})
    report = audit.verify_export_file(keyless, path)
    assert report.chain.verified == 8 and not report.chain.macs_checked and report.key_file is None
    changed_byte(path, 5, '\\"alias\\":\\"')
    with pytest.raises(ChainBroken, match=r"^audit chain broken at event 5: event 5: content"):
        audit.verify_export_file(keyless, path)


def test_an_export_is_checked_against_signed_checkpoints(gov, trail, tmp_path, now):
    from governance.signing import generate_keypair, write_anchor

    generate_keypair(gov.settings.resolved_signing_key_file)
    anchor = write_anchor(tmp_path / "anchors", audit.checkpoint(gov, now))
    path = export(gov, tmp_path / "trail.jsonl")
    checkpoints = audit.load_checkpoints(directory=anchor.parent)
    report = audit.verify_export_file(gov.settings, path, checkpoints)
    assert report.checkpoints == 1 and report.events_after_anchor == 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:5]), encoding="utf-8")  # the tail cut off
    with pytest.raises(ChainBroken, match=f"checkpoint {anchor}: the trail holds 5 events, fewer"):
        audit.verify_export_file(gov.settings, path, checkpoints)
