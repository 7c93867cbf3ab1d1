"""`governance clients create|list|revoke`: the lines an admin reads, and who may run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import People, fails, prepare_workdir, seed, table_row
from test_cli_governed import snapshot

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.models import LifecycleStage as S
from governance.services.rollout import client_keys


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, people, database_url, capsys) -> Path:
    """churn 1.0.0 in production behind churn-api; alice is logged in."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, people, database_url)
    args = ["1.0.0", "--artifact", "m1.skops", "--card", "card-1.0.0.yaml"]
    assert run(["models", "register", "churn", *args]) == 0
    seed("1.0.0", S.staging, S.production)
    assert run(["endpoints", "create", "churn-api", "--model", "churn"]) == 0
    capsys.readouterr()
    return tmp_path


def test_an_admin_creates_lists_and_revokes_a_key_shown_once(workdir, capsys, people):
    people.login("grace")
    argv = ["clients", "create", "checkout", "--endpoint", "churn-api"]
    assert run([*argv, "--route", "predict", "--route", "outcomes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    key_id = lines[0].split()[3]
    assert lines[0] == (
        f"created client key {key_id} for checkout: endpoints churn-api; routes predict, outcomes"
    )
    assert lines[1] == (
        "the key is shown once (the gateway keeps only its sha256); send it as"
        " `Authorization: Bearer KEY` or `X-API-Key: KEY`:"
    )
    assert lines[2].startswith("key: gk_") and len(lines) == 3
    key = lines[2].removeprefix("key: ")
    gov = open_governance()
    try:
        [record] = client_keys.keys(gov)
    finally:
        gov.close()
    assert (record.key.id, record.key.key_hash, record.status) == (
        key_id,
        client_keys.key_hash(key),
        "live",
    )
    assert run(["clients", "list"]) == 0
    listed = capsys.readouterr().out
    assert key not in listed
    row = table_row(listed, key_id)
    assert row[1:5] == ["checkout", "churn-api", "predict, outcomes", "live"]
    assert row[5].endswith("by grace") and row[6] == "-"
    assert run(["clients", "revoke", "checkout"]) == 0
    assert capsys.readouterr().out == (
        f"revoked {key_id}; gateways refuse it within one key poll"
        " (GOVERNANCE_GATEWAY_KEY_POLL_SECONDS, 1 s here)\n"
    )
    assert run(["clients", "list"]) == 0
    assert table_row(capsys.readouterr().out, key_id)[4] == "revoked"
    # The trail still verifies: the key events are chained and MAC'd like every other.
    assert run(["audit", "verify"]) == 0


def test_refusals_are_one_line_and_store_nothing(workdir, capsys, people):
    before = snapshot(workdir)
    cases = {
        ("clients", "create", "checkout", "--endpoint", "*", "--route", "predict"): (
            "error: alice does not hold the role admin: creating a client key for checkout refused"
        ),
        ("clients", "revoke", "checkout"): (
            "error: alice does not hold the role admin: revoking the client key(s) of checkout"
            " refused"
        ),
    }
    for argv, line in cases.items():
        assert fails(list(argv), capsys) == line
    assert snapshot(workdir) == before
    people.login("grace")
    before = snapshot(workdir)
    cases = {
        ("clients", "create", "checkout", "--endpoint", "nope", "--route", "predict"): (
            "error: unknown endpoint(s) nope: a key is scoped to existing ones"
        ),
        ("clients", "create", "checkout", "--endpoint", "*", "--route", "train"): (
            "error: unknown route(s) train: a client key may call predict, outcomes, prompts"
        ),
        ("clients", "revoke", "nobody"): ("error: no client application with keys named nobody"),
    }
    for argv, line in cases.items():
        assert fails(list(argv), capsys) == line
    assert snapshot(workdir) == before
