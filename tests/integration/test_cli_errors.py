"""CLI failures that used to print a traceback: one `error:` line on stderr, exit code 1."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from governance.cli import run
from governance.config import EXAMPLE_POLICY
from governance.store.schema import head_revision

CARD = Path(__file__).resolve().parents[2] / "examples" / "cards" / "churn-classifier.yaml"
GOVERNANCE = Path(sys.executable).with_name("governance")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A directory with an `identity: none` policy named explicitly, and no other settings."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("GOVERNANCE_"):
            monkeypatch.delenv(key)
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    # identity: none, so a session opens without a one-time code: these tests are about errors.
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({**policy, "identity": "none"}))
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(tmp_path / "policy.yaml"))
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(tmp_path / "session.json"))
    return tmp_path


@pytest.fixture
def registered(workdir: Path, model_bytes, capsys) -> Path:
    """An initialised home with churn 1.0.0 registered by alice, who stays logged in."""
    (workdir / "m.skops").write_bytes(model_bytes[0])
    card = {**yaml.safe_load(CARD.read_text()), "name": "churn", "version": "1.0.0"}
    (workdir / "card.yaml").write_text(yaml.safe_dump(card))
    assert run(["init"]) == 0
    assert run(["login", "alice"]) == 0
    args = ["1.0.0", "--artifact", "m.skops", "--card", "card.yaml"]
    assert run(["models", "register", "churn", *args]) == 0
    capsys.readouterr()
    return workdir


def one_error_line(capsys) -> str:
    """stderr after a failed command: exactly one line, and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def events(workdir: Path) -> list[tuple]:
    """The audit trail's (seq, hash) rows: what a refused command must leave alone."""
    with sqlite3.connect(workdir / ".governance" / "governance.db") as conn:
        return conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq").fetchall()


def test_non_json_trusted_types_names_the_variable(workdir, capsys, monkeypatch):
    monkeypatch.setenv("GOVERNANCE_TRUSTED_TYPES", "sklearn.tree._tree.Tree")
    assert run(["init"]) == 1
    assert one_error_line(capsys) == (
        "error: setting GOVERNANCE_TRUSTED_TYPES: not valid JSON: "
        "Expecting value: line 1 column 1 (char 0)"
    )
    assert not (workdir / ".governance").exists()


def test_an_unwritable_card_out_names_the_path(registered, capsys):
    out = registered / "missing" / "card.md"
    assert run(["models", "card", "churn", "1.0.0", "--out", str(out)]) == 1
    assert one_error_line(capsys) == f"error: cannot write {out}: No such file or directory"


def test_an_unwritable_export_out_names_the_path(registered, capsys):
    out = registered / "missing" / "trail.jsonl"
    assert run(["audit", "export", "--out", str(out)]) == 1
    assert one_error_line(capsys) == f"error: cannot write --out {out}: No such file or directory"


def test_an_unknown_schema_revision_in_init_is_named(workdir, capsys):
    assert run(["init"]) == 0
    with sqlite3.connect(workdir / ".governance" / "governance.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'zzzz'")
    capsys.readouterr()
    assert run(["init"]) == 1
    assert one_error_line(capsys) == (
        f"error: cannot upgrade the governance database from revision zzzz to "
        f"{head_revision()}: Can't locate revision identified by 'zzzz'"
    )


def test_a_database_locked_by_another_writer_is_one_line(registered, capsys, monkeypatch):
    before = events(registered)
    monkeypatch.setenv("GOVERNANCE_SQLITE_BUSY_TIMEOUT_MS", "200")
    holder = sqlite3.connect(registered / ".governance" / "governance.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held past the busy timeout
        assert run(["login", "bob"]) == 1
    finally:
        holder.rollback()
        holder.close()
    assert one_error_line(capsys) == (
        "error: governance database is locked by another writer: try again when it has finished"
    )
    assert events(registered) == before


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["approvals", "pending"],
        ["promote", "churn", "1.0.0", "--target", "staging", "--dataset", "holdout"],
    ],
    ids=["approvals-pending", "promote"],
)
def test_an_unreachable_prefect_api_is_named(registered, argv):
    # The console script, in its own process: Prefect keeps client settings per process.
    api = f"http://127.0.0.1:{closed_port()}/api"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(registered / "prefect")}
    done = subprocess.run(
        [str(GOVERNANCE), *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"error: cannot reach the Prefect API at {api}: [Errno 111] Connection refused"
    ]


def test_a_usage_error_is_click_s_message_not_a_traceback(capsys):
    from governance.cli import run

    assert run(["promote", "churn"]) == 2
    err = capsys.readouterr().err
    assert "Error: Missing argument 'version'." in err
    assert "Traceback" not in err
