"""The pure audit rules: MACed chain verification, export lines, checkpoint payloads, replay."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from governance.domain.audit import (
    GENESIS_HASH,
    Checkpoint,
    canonical_event,
    chain_hash,
    check_checkpoint,
    event_mac,
    export_line,
    verify_export,
    verify_rows,
)
from governance.domain.errors import StateMismatch
from governance.domain.reconciliation import (
    GovernedState,
    Replay,
    RequestFacts,
    differences,
    require_match,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def chain(count: int, key: bytes = KEY) -> list[tuple]:
    """`count` stored rows chained and MACed as AuditLog.append writes them."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        fields = (seq, f"id-{seq}", f"2026-11-23T12:00:0{seq % 10}.000000Z", "model.alias_set")
        fields += ("churn", "1.0.0", "bob", json.dumps({"alias": f"a{seq}"}, separators=(",", ":")))
        digest = chain_hash(prev, canonical_event(*fields))
        rows.append((*fields, prev, digest, event_mac(key, digest)))
        prev = digest
    return rows


def test_event_mac_is_hmac_sha256_of_the_hash_hex():
    # A fixed vector, so the stored MACs never silently change meaning.
    expected = hmac.new(KEY, b"ab" * 32, hashlib.sha256).hexdigest()
    assert event_mac(KEY, "ab" * 32) == expected and len(expected) == 64


@pytest.mark.parametrize("key", [KEY, b"k", bytes(100)])
def test_the_fast_mac_check_agrees_with_the_standard_hmac(key):
    # verify_rows computes HMAC from prepared sha256 states; any key length must agree.
    assert verify_rows(chain(3, key), mac_key=key).ok
    rows = chain(3, key)
    assert verify_rows(rows, mac_key=key + b"x").broken_seq == 1


def test_intact_chain_verifies_with_its_key():
    rows = chain(5)
    report = verify_rows(rows, mac_key=KEY)
    assert report.ok and report.verified == 5 and report.macs_checked
    assert report.head_seq == 5 and report.head_hash == rows[-1][9]
    assert not verify_rows(rows).macs_checked


@pytest.mark.parametrize(
    ("mac", "words"),
    [(None, "event 3: has no MAC"), ("0" * 64, "event 3: MAC does not match"), ("é" * 64, "MAC")],
)
def test_a_bad_mac_names_the_event(mac, words):
    rows = chain(5)
    rows[2] = (*rows[2][:10], mac)
    report = verify_rows(rows, mac_key=KEY)
    assert not report.ok and report.broken_seq == 3 and report.verified == 2
    assert words in report.reason and "written without the key" in report.reason


def test_a_chain_macd_with_another_key_fails_at_the_first_event():
    report = verify_rows(chain(3, OTHER_KEY), mac_key=KEY)
    assert not report.ok and report.broken_seq == 1
    assert report.reason == "event 1: MAC does not match (written without the key)"


def test_handlers_see_only_verified_events_of_their_type():
    seen = []
    rows = chain(4)
    rows[3] = (*rows[3][:10], None)
    report = verify_rows(
        rows, mac_key=KEY, handlers={"model.alias_set": lambda *event: seen.append(event)}
    )
    assert report.broken_seq == 4
    assert [json.loads(event[2])["alias"] for event in seen] == ["a1", "a2", "a3"]
    assert seen[0] == ("churn", "1.0.0", '{"alias":"a1"}')


def test_export_round_trip_and_every_single_byte_change_is_named():
    rows = chain(3)
    lines = [export_line(row) for row in rows]
    report, heads = verify_export(lines, mac_key=KEY, watch={2})
    assert report.ok and report.verified == 3 and report.macs_checked
    assert heads == {2: rows[1][9]}
    record = json.loads(lines[1])
    assert record["event"] == canonical_event(*rows[1][:8])
    assert chain_hash(record["prev_hash"], record["event"]) == record["hash"]
    text = lines[1]
    for position in range(len(text)):
        flipped = chr(ord(text[position]) ^ 1)
        changed = [lines[0], text[:position] + flipped + text[position + 1 :], lines[2]]
        broken, _ = verify_export(changed, mac_key=KEY)
        assert not broken.ok, f"byte {position} ({text[position]!r}) went unnoticed"
        assert broken.broken_seq == 2 and ("event 2" in broken.reason or "line 2" in broken.reason)


def test_export_without_the_key_checks_the_chain_only():
    lines = [export_line(row) for row in chain(2)]
    report, _ = verify_export(lines)
    assert report.ok and not report.macs_checked
    lines[0] = lines[0].replace('"event":"{\\"actor\\":\\"bob', '"event":"{\\"actor\\":\\"bib')
    report, _ = verify_export(lines)
    assert report.broken_seq == 1 and report.reason == "event 1: content does not match its hash"


def test_export_missing_line_is_named():
    lines = [export_line(row) for row in chain(3)]
    report, _ = verify_export([lines[0], lines[2]], mac_key=KEY)
    assert report.broken_seq == 2 and report.reason == "line 2: seq 3 where event 2 belongs"


def test_checkpoint_payload_is_a_fixed_canonical_text():
    checkpoint = Checkpoint(seq=7, hash="ab" * 32, taken_at="2026-11-23T12:00:00.000000Z")
    assert checkpoint.payload() == (
        '{"hash":"' + "ab" * 32 + '","seq":7,"taken_at":"2026-11-23T12:00:00.000000Z"}'
    )


def test_the_empty_chain_checkpoint_agrees_with_genesis_only():
    empty = Checkpoint(seq=0, hash=GENESIS_HASH, taken_at="t")
    assert check_checkpoint(empty, None) is None
    wrong = Checkpoint(seq=0, hash="1" * 64, taken_at="t")
    assert "event 0 hash differs" in check_checkpoint(wrong, None)
    assert "no longer exists" in check_checkpoint(Checkpoint(seq=3, hash="a", taken_at="t"), None)


def replay(events: list[tuple[str, str | None, str | None, dict]]) -> GovernedState:
    """Run events through the replay handlers, as verify_rows would."""
    state = Replay()
    for etype, model, version, details in events:
        handler = state.handlers.get(etype)
        if handler:
            handler(model, version, json.dumps(details))
    return state.state


LIFE = [
    ("model.registered", "churn", None, {"risk_level": "high", "owner": "a"}),
    ("model.version_registered", "churn", "1.0.0", {"card_hash": "c1", "artifact_digest": "d"}),
    ("model.card_revised", "churn", "1.0.0", {"revision": 2, "card_hash": "c2"}),
    ("model.unheard_of", "churn", "1.0.0", {"whatever": 1}),
    ("approval.requested", "churn", "1.0.0", {"request_id": "r1", "target_stage": "staging"}),
    ("approval.refused", "churn", "1.0.0", {"request_id": "r1", "approver": "alice"}),
    (
        "approval.decided",
        "churn",
        "1.0.0",
        {"request_id": "r1", "approver": "bob", "role": "ml_engineer", "decision": "approve"},
    ),
    ("approval.approved", "churn", "1.0.0", {"request_id": "r1"}),
    ("model.stage_changed", "churn", "1.0.0", {"from": "development", "to": "staging"}),
    ("model.promoted", "churn", "1.0.0", {"request_id": "r1"}),
    ("model.alias_set", "churn", "1.0.0", {"alias": "champion"}),
    ("model.risk_changed", "churn", None, {"from": "high", "to": "critical"}),
    ("person.enrolled", None, None, {"name": "bob"}),
]


def test_replay_builds_the_state_the_events_imply():
    state = replay(LIFE)
    assert state.models == {"churn": "critical"}
    assert state.versions == {("churn", "1.0.0"): "staging"}
    assert state.cards == {("churn", "1.0.0"): {1: "c1", 2: "c2"}}
    assert state.aliases == {("churn", "champion"): "1.0.0"}
    assert state.requests == {"r1": RequestFacts("churn", "1.0.0", "staging", "approved", True)}
    assert state.decisions == {"r1": [("bob", "ml_engineer", "approve")]}
    assert state.people == {"bob"} and state.rows() == 8


def test_a_revoke_carries_the_reopened_status_and_the_last_closing_event_wins():
    revoke = {"request_id": "r1", "approver": "bob", "role": "ml_engineer", "decision": "revoke"}
    state = replay([*LIFE[:8], ("approval.decided", "churn", "1.0.0", revoke | {"status": "open"})])
    assert state.requests["r1"].status == "open" and len(state.decisions["r1"]) == 2
    state = replay([*LIFE[:8], ("approval.voided", "churn", "1.0.0", {"request_id": "r1"})])
    assert state.requests["r1"].status == "void"


def test_identical_state_matches_and_each_difference_names_its_row():
    implied = replay(LIFE)
    assert require_match(implied, replay(LIFE)) == implied.rows()
    actual = replay(LIFE)
    actual.versions[("churn", "1.0.0")] = "production"
    actual.aliases[("churn", "shadow")] = "1.0.0"
    actual.cards[("churn", "1.0.0")][2] = "forged"
    actual.requests["r1"].completed = False
    actual.decisions["r1"].append(("carol", "risk_officer", "approve"))
    actual.people.add("mallory")
    del actual.models["churn"]
    found = list(differences(implied, actual))
    assert found == [
        "registered_models churn: the events imply a row but the table has none",
        "model_versions churn@1.0.0: stage is production but the events imply staging",
        "model_aliases churn@shadow: the table has a row that no event accounts for",
        "model_cards churn@1.0.0 revision 2: card_hash is forged but the events imply c2",
        "approval_requests r1: completed_at is not set but the events imply it is set"
        " (model.promoted or prompt.promoted)",
        "approval_decisions of request r1: carol as risk_officer decided approve in the table"
        " but no approval.decided event records it",
        "people mallory: the table has a row that no person.enrolled event accounts for",
    ]
    with pytest.raises(StateMismatch, match=r"^registered_models churn: .*; model_versions"):
        require_match(implied, actual)


def test_an_event_whose_details_cannot_be_replayed_is_named():
    rows = chain(3)
    fields = (4, "id-4", "2026-11-23T12:00:04.000000Z", "model.stage_changed", "churn", "1.0.0")
    fields += ("bob", '{"from":"development"}')
    digest = chain_hash(rows[-1][9], canonical_event(*fields))
    rows.append((*fields, rows[-1][9], digest, event_mac(KEY, digest)))
    with pytest.raises(StateMismatch, match=r"^event 4 \(model.stage_changed\): .*KeyError: 'to'"):
        verify_rows(rows, mac_key=KEY, handlers=Replay().handlers)
