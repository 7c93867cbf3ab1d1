"""Signed checkpoints and the audit-anchor flow on real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest
import test_audit_trail as kit
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from flows.audit_anchor import audit_anchor
from governance.domain.audit import GENESIS_HASH, SignedCheckpoint
from governance.domain.errors import ChainBroken, Conflict, SignatureInvalid
from governance.services.registry import versions
from governance.services.trust import audit
from governance.signing import generate_keypair, public_key_path, write_anchor

drop_triggers, rechain_from, tamper = kit.drop_triggers, kit.rechain_from, kit.tamper
trail = kit.trail  # the seven-event fixture


@pytest.fixture
def signing_key(gov):
    """The configured signing key pair, made as `governance audit keygen` makes it."""
    private = gov.settings.resolved_signing_key_file
    generate_keypair(private)
    return private


def anchored(gov, path) -> list:
    return audit.load_checkpoints([path])


def test_keygen_writes_a_0600_private_key_and_the_pub_beside_it(tmp_path):
    private = tmp_path / "keys" / "audit-signing.key"
    public, fingerprint = generate_keypair(private)
    assert public == public_key_path(private) == tmp_path / "keys" / "audit-signing.key.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(key, Ed25519PublicKey) and len(fingerprint) == 64
    before = private.read_bytes(), public.read_bytes()
    with pytest.raises(Conflict, match=f"^{private} already exists: keygen never overwrites"):
        generate_keypair(private)
    private.unlink()
    with pytest.raises(Conflict, match=f"^{public} already exists"):
        generate_keypair(private)
    assert not private.exists() and public.read_bytes() == before[1]


def test_a_checkpoint_of_the_empty_chain_verifies(gov, signing_key, now, tmp_path):
    signed = audit.checkpoint(gov, now)
    assert (signed.seq, signed.hash) == (0, GENESIS_HASH)
    path = write_anchor(tmp_path / "anchors", signed)
    report = audit.verify(gov, audit.load_checkpoints(directory=tmp_path / "anchors"))
    assert report.chain.verified == 0 and report.checkpoints == 1
    assert report.newest_anchor == signed and report.events_after_anchor == 0
    assert path.name == "checkpoint-000000000000-20261123T120000000000Z.json"


def test_the_signature_covers_count_seq_head_hash_and_time(gov, trail, signing_key, now):
    signed = audit.checkpoint(gov, now + timedelta(days=1))
    assert signed.seq == 8 and signed.taken_at == "2026-11-24T12:00:00.000000Z"
    assert signed.events == 8
    public = serialization.load_pem_public_key(public_key_path(signing_key).read_bytes())
    payload = json.dumps(
        {"events": 8, "hash": signed.hash, "seq": 8, "taken_at": signed.taken_at},
        separators=(",", ":"),
    )
    public.verify(bytes.fromhex(signed.signature), payload.encode())  # raises if not


def write(tmp_path, signed: SignedCheckpoint, **changes):
    path = tmp_path / "checkpoint.json"
    data = json.loads(signed.model_dump_json()) | changes
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"signature": "00" * 64}, "the signature does not verify"),
        ({"seq": 6}, "the signature does not verify"),
        ({"events": 9}, "the signature does not verify"),
        ({"taken_at": "2027-01-01T00:00:00.000000Z"}, "the signature does not verify"),
        ({"signature": "zz"}, "the signature does not verify"),
        ({"key_fingerprint": "ab" * 32}, "signed by key abababababababab, not by the public key"),
    ],
)
def test_a_checkpoint_with_a_bad_signature_is_named(
    gov,
    trail,
    signing_key,
    now,
    tmp_path,
    change,
    words,
):
    path = write(tmp_path, audit.checkpoint(gov, now), **change)
    with pytest.raises(SignatureInvalid, match=f"^checkpoint {path}: {words}"):
        audit.verify(gov, anchored(gov, path))


def test_a_checkpoint_signed_by_another_key_is_refused(gov, trail, signing_key, now, tmp_path):
    other = tmp_path / "other.key"
    generate_keypair(other)
    path = write(tmp_path, audit.checkpoint(gov, now, other))
    with pytest.raises(SignatureInvalid, match=f"^checkpoint {path}: signed by key"):
        audit.verify(gov, anchored(gov, path))
    assert audit.verify(gov, anchored(gov, path), public_key=public_key_path(other)).checkpoints


def test_an_unsigned_checkpoint_is_refused(gov, trail, signing_key, tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"seq": 7, "hash": "00", "taken_at": "t"}')
    with pytest.raises(SignatureInvalid, match=f"^checkpoint {path}: it is not signed$"):
        audit.verify(gov, anchored(gov, path))


def test_a_cut_tail_disagrees_with_the_anchor(gov, trail, signing_key, now):
    path, _ = audit.anchor(gov, now)
    checkpoints = audit.load_checkpoints(directory=path.parent)
    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE seq >= 6")
    assert audit.verify_chain(gov).ok
    shorter = (
        "the trail holds 5 events, fewer than the 8 the checkpoint taken"
        " 2026-11-23T12:00:00.000000Z counted: events after event 5 were deleted"
    )
    with pytest.raises(ChainBroken, match=f"checkpoint {path}: {shorter}$"):
        audit.verify(gov, checkpoints)
    with pytest.raises(ChainBroken, match=f"{shorter}$"):
        audit.anchor(gov, now + timedelta(hours=1))


def test_the_anchor_flow_writes_one_signed_file_per_run_and_counts_what_follows(
    gov,
    trail,
    signing_key,
    now,
    monkeypatch,
):
    for key, value in gov.settings.model_dump().items():
        if value not in (None, "", []):
            monkeypatch.setenv(f"GOVERNANCE_{key.upper()}", str(value))
    state = audit_anchor.fn()
    assert state.name == "Anchored" and "checkpoint of event 8" in state.message
    versions.set_alias(gov, "fraud", "champion", "0.1.0", actor="bob", now=now)
    versions.set_alias(gov, "fraud", "shadow", "0.1.0", actor="bob", now=now)
    directory = gov.settings.resolved_anchor_dir
    report = audit.verify(gov, audit.load_checkpoints(directory=directory))
    assert report.checkpoints == 1 and report.events_after_anchor == 2
    assert audit_anchor.fn().name == "Anchored"
    files = sorted(p.name for p in directory.iterdir())
    assert len(files) == 2 and all(name.startswith("checkpoint-") for name in files)
    assert files[1].startswith("checkpoint-000000000010-")  # named by seq, then time
    report = audit.verify(gov, audit.load_checkpoints(directory=directory))
    assert report.checkpoints == 2 and report.events_after_anchor == 0

    drop_triggers(gov)
    tamper(gov, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    rechain_from(gov, 3)
    failed = audit_anchor.fn()
    assert failed.name == "ChainBroken" and "event 10 hash differs" in failed.message
    assert len(list(directory.iterdir())) == 2
