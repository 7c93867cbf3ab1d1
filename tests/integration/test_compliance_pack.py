"""Annex IV packs on real SQLite and PostgreSQL: built from the records, signed, checked offline."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from seeding import approved_request
from test_audit_trail import drop_triggers, tamper
from test_cli import People, fails, prepare_workdir

from governance.cli import run
from governance.domain.compliance_pack import sha256_hex
from governance.domain.errors import (
    ChainBroken,
    ConfigError,
    Conflict,
    ModelNotFound,
    PackTampered,
    SignatureInvalid,
    VersionNotFound,
)
from governance.domain.models import ModelKind, RegisteredModel, RiskLevel
from governance.reports.compliance_yaml import load_compliance_yaml
from governance.services.compliance import packs
from governance.services.compliance.pack_verify import verify_pack
from governance.services.compliance.packs import build_pack
from governance.services.compliance.status import status
from governance.services.promotion import completion
from governance.services.registry import compliance_documents, versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit
from governance.signing import generate_keypair, public_key_path


@pytest.fixture
def promoted(gov, staged_run, codes, now):
    """churn 1.1.0 evaluated, approved by carol, dave and erin, promoted; a signing key."""
    request = approved_request(gov, codes, now, version="1.1.0", evaluation_run_id=staged_run.id)
    completion.complete_promotion(gov, request_id=request.id, actor="bob", now=now)
    generate_keypair(gov.settings.resolved_signing_key_file)
    return request


def build(gov, directory: Path, now, version: str = "1.1.0"):
    return build_pack(gov, "churn", version, directory, actor="heidi", now=now)


def item(built, item_id: str):
    return next(found for found in built.items if found.id == item_id)


def test_a_pack_cites_the_events_behind_its_statements(gov, promoted, tmp_path, now):
    built = build(gov, tmp_path / "pack", now + timedelta(hours=1))

    stored = {e.seq: e for e in audit.history(gov, model="churn")}
    cited = [s for i in built.manifest.items for s in i.sources if s.kind == "event"]
    assert cited and all(stored[s.seq].hash == s.digest for s in cited if s.seq in stored)
    testing = item(built, "2(g)")
    [decisions] = [t for t in testing.tables if t.title.startswith("Decisions")]
    assert [(row[2], row[3], row[4]) for row in decisions.rows] == [
        ("carol", "ml_lead", "approve"),
        ("dave", "risk_officer", "approve"),
        ("erin", "legal", "approve"),
    ]
    assert all(
        row[5].startswith("one-time code (TOTP, RFC 6238); authenticator enrolled")
        for row in decisions.rows
    )
    assert testing.coverage == "covered"
    decided = audit.history(gov, model="churn", version="1.1.0", event_type="approval.decided")
    assert {s.seq for s in testing.sources if s.kind == "event"} >= {e.seq for e in decided}
    assert any(s.kind == "approval_request" and s.ref == promoted.id for s in testing.sources)
    assert any(s.kind == "evaluation_run" for s in testing.sources)
    changes = item(built, "6")
    to_production = [r[3] for r in changes.tables[0].rows if r[3].endswith("→ production")]
    assert to_production == ["stage changed: staging → production"]
    [registered] = audit.history(
        gov, model="churn", version="1.1.0", event_type="model.version_registered"
    )
    assert any(s.seq == registered.seq for s in item(built, "1(a)").sources)


def test_provider_items_are_gaps_named_without_a_compliance_document(gov, promoted, tmp_path, now):
    built = build(gov, tmp_path / "pack", now)

    points = {p.point: p for p in built.manifest.points}
    assert (points[7].coverage, points[8].coverage, points[6].coverage) == (
        "missing",
        "missing",
        "covered",
    )
    assert (
        points[8].reason == "8 missing EU declaration of conformity (compliance.yaml: declaration)"
    )
    assert item(built, "1(b)").missing == [
        "interaction with hardware and software (compliance.yaml: interactions)"
    ]
    assert built.gaps == 8


EXAMPLE_DOCUMENT = Path(__file__).resolve().parents[2] / "examples/compliance/churn-classifier.yaml"


def test_with_the_providers_document_only_the_audits_not_yet_run_remain(
    gov, promoted, tmp_path, now
):
    document = load_compliance_yaml(EXAMPLE_DOCUMENT.read_text())
    revision = compliance_documents.register_document(
        gov, "churn", document, actor="alice", now=now
    )
    built = build(gov, tmp_path / "pack", now)

    points = {p.point: p for p in built.manifest.points}
    assert [n for n, p in points.items() if p.coverage != "covered"] == [9], points[2].reason
    assert points[9].reason == "9 missing the audits actually run (retirement.checked)"
    declaration = item(built, "8")
    assert declaration.text[0].startswith(
        f"Declaration {document.declaration.reference}, signed by"
    )
    [cited] = [s for s in declaration.sources if s.kind == "compliance_document"]
    assert (cited.ref, cited.digest) == ("churn revision 1", revision.digest)
    [standards] = item(built, "7").tables
    assert [row[0] for row in standards.rows] == [s.reference for s in document.standards.applied]


def test_the_pack_is_recorded_and_verifies_offline(gov, promoted, tmp_path, now):
    built = build(gov, tmp_path / "pack", now)
    directory = tmp_path / "pack"

    [event] = audit.history(gov, event_type="compliance.pack_built")
    assert event.seq == built.event_seq and event.actor == "heidi"
    assert event.details["manifest_sha256"] == sha256_hex(
        (directory / "manifest.json").read_bytes()
    )
    assert event.details["gaps"] == built.gaps
    assert sorted(p.name for p in directory.iterdir()) == [
        "items.json", "log.jsonl", "manifest.json", "manifest.sig", "pack.html", "pack.md",
        "signing-key.pub", "timeline.svg",
    ]  # fmt: skip
    checked = verify_pack(directory, public_key_path(gov.settings.resolved_signing_key_file))
    assert (checked.items, checked.files, checked.key_from_pack) == (23, 6, False)
    assert checked.events == built.manifest.log.events
    lines = (directory / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == sorted(
        json.loads(line)["seq"] for line in lines
    )
    assert audit.verify(gov).state_rows > 0


def _copy(directory: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    copy.mkdir()
    for file in directory.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    return copy


def _flip(path: Path, needle: bytes, replacement: bytes) -> None:
    data = path.read_bytes()
    assert needle in data
    path.write_bytes(data.replace(needle, replacement, 1))


@pytest.mark.parametrize(
    ("file", "needle", "replacement", "error", "named"),
    [
        ("items.json", b'"carol"', b'"carel"', PackTampered, "item 2(g) in items.json was changed"),
        ("log.jsonl", b"carol", b"carel", PackTampered, "log.jsonl line"),
        ("pack.html", b"Gap score", b"Gap scare", PackTampered, "pack.html was changed"),
        ("timeline.svg", b"registry", b"registrx", PackTampered, "timeline.svg was changed"),
        ("manifest.json", b'"heidi"', b'"heido"', SignatureInvalid, "manifest.json: the signature"),
    ],
)  # fmt: skip
def test_one_changed_byte_is_named(
    gov, promoted, tmp_path, now, file, needle, replacement, error, named
):
    build(gov, tmp_path / "pack", now)
    copy = _copy(tmp_path / "pack", tmp_path, "copy")
    _flip(copy / file, needle, replacement)

    with pytest.raises(error, match=re.escape(named)):
        verify_pack(copy, public_key_path(gov.settings.resolved_signing_key_file))
    verify_pack(tmp_path / "pack", public_key_path(gov.settings.resolved_signing_key_file))


def test_another_key_a_missing_file_and_an_added_one_are_named(gov, promoted, tmp_path, now):
    build(gov, tmp_path / "pack", now)
    other = tmp_path / "other.key"
    generate_keypair(other)
    with pytest.raises(
        SignatureInvalid, match=re.escape("manifest.json: the signature does not verify")
    ):
        verify_pack(tmp_path / "pack", public_key_path(other))
    missing = _copy(tmp_path / "pack", tmp_path, "missing")
    (missing / "pack.md").unlink()
    with pytest.raises(PackTampered, match=re.escape("pack.md is missing from the pack")):
        verify_pack(missing)
    added = _copy(tmp_path / "pack", tmp_path, "added")
    (added / "note.txt").write_text("trust me")
    with pytest.raises(PackTampered, match=re.escape("note.txt: not part of the signed pack")):
        verify_pack(added)


def _events(gov) -> int:
    return audit.head(gov)


def test_bad_input_writes_nothing(gov, promoted, tmp_path, now):
    before = _events(gov)
    with pytest.raises(VersionNotFound, match=re.escape("has no version '9.9.9'")):
        build(gov, tmp_path / "unknown", now, version="9.9.9")
    assert not (tmp_path / "unknown").exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(Conflict, match="occupied exists and is not an empty directory"):
        build(gov, occupied, now)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    gov.settings.resolved_signing_key_file.unlink()
    with pytest.raises(ConfigError, match="signing key"):
        build(gov, tmp_path / "unsigned", now)
    assert not (tmp_path / "unsigned").exists()
    assert _events(gov) == before


def test_an_empty_directory_is_filled(gov, promoted, tmp_path, now):
    (tmp_path / "empty").mkdir()
    built = build(gov, tmp_path / "empty", now)
    assert (
        tmp_path / "empty" / "manifest.json"
    ).is_file() and built.directory == tmp_path / "empty"


def test_a_pack_is_not_built_on_an_edited_event(gov, promoted, tmp_path, now):
    [decided, *_] = audit.history(
        gov, model="churn", version="1.1.0", event_type="approval.decided"
    )
    drop_triggers(gov)
    tamper(
        gov,
        "UPDATE audit_events SET details = :details WHERE seq = :seq",
        {"details": json.dumps({**decided.details, "approver": "mallory"}), "seq": decided.seq},
    )
    with pytest.raises(
        ChainBroken, match=f"audit event {decided.seq} does not match its hash or MAC"
    ):
        build(gov, tmp_path / "pack", now)
    assert not (tmp_path / "pack").exists()


def test_removed_events_are_a_named_retention_shortfall(gov, promoted, tmp_path, now):
    # Two events no statement of the pack rests on; the first is removed, so no link breaks.
    with gov.store.write() as tx:
        victim = tx.audit.append("dataset.registered", actor="alice", now=now, details={}).seq
        tx.audit.append("dataset.registered", actor="alice", now=now, details={})
    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE seq = :seq", {"seq": victim})
    built = build(gov, tmp_path / "pack", now)
    [shortfall] = built.manifest.retention.shortfalls
    assert shortfall == (
        f"the trail holds {victim} events but its head is event {victim + 1}: events were "
        "removed (Art. 19(1) and 26(6) require the logs to be kept at least 6 months)"
    )


def test_status_scores_each_models_version_in_service_by_risk(
    gov, promoted, model_bytes, example_card, now
):
    low = RegisteredModel(
        name="tiny", owner="bob", team="t", risk_level=RiskLevel.low, kind=ModelKind.sklearn
    )
    card = example_card.model_copy(update={"risk_level": RiskLevel.low})
    spec = VersionSpec(name="tiny", version="0.1.0", created_by="bob")
    versions.register_version(gov, spec, card, artifact=model_bytes[0], now=now, new_model=low)

    rows = status(gov)
    assert [(r.model, r.version, r.stage, r.high_risk) for r in rows] == [
        ("churn", "1.1.0", "production", True),
        ("tiny", "0.1.0", "development", False),
    ]
    assert rows[0].gaps == 8 and [p.point for p in rows[0].points] == list(range(1, 10))
    assert [r.model for r in status(gov, "tiny")] == ["tiny"]
    with pytest.raises(ModelNotFound, match=re.escape("nope")):
        status(gov, "nope")


def test_the_cli_packs_verifies_and_names_bad_input_in_one_line(
    tmp_path, monkeypatch, model_bytes, capsys, database_url
):
    prepare_workdir(tmp_path, monkeypatch, model_bytes, People(capsys), database_url)
    args = ["1.0.0", "--artifact", "m1.skops", "--card", "card-1.0.0.yaml"]
    assert run(["models", "register", "churn", *args]) == 0
    assert run(["audit", "keygen"]) == 0
    capsys.readouterr()
    assert run(["compliance", "pack", "churn", "1.0.0", "--out", "pack"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Annex IV pack for churn@1.0.0 written to pack (manifest signed by key")
    assert "retention: logs kept 6 months or more, documentation 10 years; no shortfall" in out
    assert run(["compliance", "verify", "pack"]) == 0
    assert capsys.readouterr().out.startswith("pack verified: churn@1.0.0, signature by key ")
    copy = _copy(tmp_path / "pack", tmp_path, "edited")
    _flip(copy / "items.json", b"Version 1.0.0 of churn", b"Version 1.0.1 of churn")
    assert fails(["compliance", "verify", "edited"], capsys).startswith(
        "error: item 1(a) in items.json was changed: its sha256 is "
    )
    assert fails(["compliance", "pack", "churn", "9.9.9"], capsys) == (
        "error: model 'churn' has no version '9.9.9'"
    )
    assert fails(["compliance", "pack", "churn", "1.0.0", "--out", "pack"], capsys) == (
        "error: pack exists and is not an empty directory: a pack is never written over"
    )
    capsys.readouterr()
    assert run(["compliance", "pack", "churn", "1.0.0", "--out", "strict", "--strict"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("strict: ")


def test_a_crash_before_the_rename_leaves_a_recorded_pack_never_delivered(
    gov, promoted, tmp_path, now, monkeypatch
):
    def crash(staging: Path, out: Path) -> None:
        raise KeyboardInterrupt  # the process dies between recording and placing the pack

    monkeypatch.setattr(packs, "_place", crash)
    with pytest.raises(KeyboardInterrupt):
        build(gov, tmp_path / "pack", now)
    assert sorted(p.name for p in tmp_path.iterdir() if "pack" in p.name) == []
    [event] = audit.history(gov, event_type="compliance.pack_built")
    assert event.version == "1.1.0"
