"""`governance audit keygen|checkpoint|verify|export` end to end, on SQLite and PostgreSQL:
one line of output per outcome, exit codes, and an export verified with no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_audit_trail as kit

from governance.bootstrap import open_governance
from governance.cli import context, people, run
from governance.config import EXAMPLE_POLICY, load_settings
from governance.domain.models import LifecycleStage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def home(database_url, tmp_path: Path, monkeypatch) -> Path:
    """An initialised governance home on the test's database; events are added per test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOVERNANCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    for key in ("GOVERNANCE_ARTIFACT_ROOT", "GOVERNANCE_SECRET_KEY_FILE", "GOVERNANCE_ANCHOR_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("GOVERNANCE_SIGNING_KEY_FILE", raising=False)
    assert run(["init"]) == 0
    return tmp_path / "home"


@pytest.fixture
def events(home, churn_model, example_card, model_bytes):
    """churn 1.0.0 registered through the services: policy.loaded, then two events."""
    gov = open_governance()
    try:
        kit.register(gov, churn_model, example_card, model_bytes[0], "1.0.0", NOW)
    finally:
        gov.close()


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def test_keygen_makes_a_pair_and_never_overwrites(home, capsys):
    assert run(["audit", "keygen"]) == 0
    out = capsys.readouterr().out
    key = home / "audit-signing.key"
    assert f"signing key: {key} (mode 0600" in out and f"public key: {key}.pub (fingerprint" in out
    before = key.read_bytes()
    assert run(["audit", "keygen"]) == 1
    assert one_error(capsys) == f"error: {key} already exists: keygen never overwrites a key"
    assert key.read_bytes() == before
    assert run(["audit", "keygen", "--out", "elsewhere/k.pem"]) == 0
    assert Path("elsewhere/k.pem.pub").exists()


def test_an_empty_chain_checkpoint_verifies(home, capsys):
    assert run(["audit", "keygen"]) == 0
    assert run(["audit", "checkpoint", "--out", "empty.json"]) == 0
    assert "signed checkpoint at event 0 written to empty.json" in capsys.readouterr().out
    assert run(["audit", "verify", "--checkpoint", "empty.json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit trail intact: 0 events verified with their MACs, 0 state rows")
    assert (
        "empty; 1 signed checkpoint(s) verified, 0 event(s) after the newest anchor (event 0,"
        in out
    )


def test_checkpoints_in_a_directory_count_what_came_after(home, events, capsys):
    assert run(["audit", "keygen"]) == 0
    (home / "anchors").mkdir()
    assert run(["audit", "checkpoint", "--out", str(home / "anchors" / "a.json")]) == 0
    assert run(["audit", "checkpoint"]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert printed["seq"] == 3 and len(printed["signature"]) == 128
    assert len(printed["key_fingerprint"]) == 64 and printed["algorithm"] == "ed25519"
    gov = open_governance()
    kit.stage(gov, "churn", "1.0.0", LifecycleStage.staging, NOW)
    gov.close()
    assert run(["audit", "verify", "--checkpoints", str(home / "anchors")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit trail intact: 4 events verified with their MACs, 3 state rows")
    assert "1 signed checkpoint(s) verified, 1 event(s) after the newest anchor (event 3, " in out


def test_a_bad_signature_is_one_line_naming_the_file(home, events, capsys):
    assert run(["audit", "keygen"]) == 0
    assert run(["audit", "checkpoint", "--out", "c.json"]) == 0
    data = json.loads(Path("c.json").read_text())
    Path("c.json").write_text(json.dumps(data | {"seq": 1}))
    capsys.readouterr()
    assert run(["audit", "verify", "--checkpoint", "c.json"]) == 1
    assert one_error(capsys).startswith(
        "error: checkpoint c.json: the signature does not verify with "
    )


def test_a_forged_event_is_one_line(home, events, capsys):
    gov = open_governance()
    kit.forge_event(gov, "model.alias_set", '{"alias":"x"}', None, model="churn", version="1.0.0")
    gov.close()
    capsys.readouterr()
    assert run(["audit", "verify"]) == 1
    assert one_error(capsys) == (
        "error: audit chain broken at event 4: event 4: has no MAC (written without the key)"
    )


def test_a_state_edit_is_one_line(home, events, capsys):
    gov = open_governance()
    kit.tamper(gov, "UPDATE model_versions SET stage = 'retired'")
    gov.close()
    capsys.readouterr()
    assert run(["audit", "verify"]) == 1
    assert one_error(capsys) == (
        "error: model_versions churn@1.0.0: stage is retired but the events imply development"
    )


def test_export_verifies_offline_and_names_a_changed_byte(home, events, capsys, monkeypatch):
    assert run(["audit", "export", "--out", "trail.jsonl"]) == 0
    assert "exported 3 events to trail.jsonl" in capsys.readouterr().out
    key = load_settings().resolved_secret_key_file
    # No database at all: an unreachable URL would fail if verify tried to open it.
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY_FILE", str(key))
    assert run(["audit", "verify", "--export", "trail.jsonl"]) == 0
    assert capsys.readouterr().out.startswith(
        f"export intact: 3 events verified, MACs checked with {key}, head event 3 hash "
    )
    monkeypatch.delenv("GOVERNANCE_DATABASE_URL")
    monkeypatch.setenv("GOVERNANCE_HOME", "elsewhere")
    monkeypatch.delenv("GOVERNANCE_SECRET_KEY_FILE")
    assert run(["audit", "verify", "--export", "trail.jsonl"]) == 0
    assert (
        "MACs NOT checked (no secret key file at elsewhere/secret.key)" in capsys.readouterr().out
    )
    assert not Path("elsewhere").exists()  # no SQLite file was created either

    text = Path("trail.jsonl").read_text()
    at = text.index('"mac":"') + len('"mac":"')
    Path("trail.jsonl").write_text(text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1 :])
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY_FILE", str(key))
    assert run(["audit", "verify", "--export", "trail.jsonl"]) == 1
    assert one_error(capsys) == (
        "error: audit chain broken at event 1: event 1: MAC does not match"
        " (written without the key)"
    )


def test_an_unwritable_out_is_one_line(home, events, capsys):
    assert run(["audit", "keygen"]) == 0
    for command in (["audit", "export"], ["audit", "checkpoint"]):
        assert run([*command, "--out", "missing/dir/file"]) == 1
        assert one_error(capsys) == (
            "error: cannot write --out missing/dir/file: No such file or directory"
        )


def test_verify_names_the_span_written_with_identities_off(home, capsys, monkeypatch, tmp_path):
    clock = iter(NOW + timedelta(minutes=m) for m in range(100))
    monkeypatch.setattr(context, "now", lambda: next(clock))
    monkeypatch.setattr(people, "now", context.now)
    off = tmp_path / "off.yaml"
    off.write_text(EXAMPLE_POLICY.read_text() + "\nidentity: none\n")
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(off))
    assert run(["login", "alice"]) == 0  # policy.loaded and person.logged_in, unverified
    assert run(["logout"]) == 0
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    assert run(["people", "enroll", "carol"]) == 0  # back to totp: policy.loaded, enrolled
    capsys.readouterr()
    assert run(["audit", "verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("audit trail intact: 5 events verified with their MACs")
    assert lines[1:] == [
        "identities were off (identity: none) for events 1 to 3 "
        "(2026-11-23T12:00:00.000000Z to 2026-11-23T12:01:00.000000Z, 3 events)"
    ]
