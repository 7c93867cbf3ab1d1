"""Issue 16 item 2: what loads is what the chain registered, whatever `model_versions` says.

A database writer points churn 1.0.0's `artifact_digest` at 1.1.0's registered artifact.
Before the fix the gateway answered as "1.0.0" with 1.1.0's model, and `audit verify` and
`models verify` both passed. On real SQLite and PostgreSQL, over real HTTP.
"""

from __future__ import annotations

import re

import httpx
import pytest
from gatewaykit import ENDPOINT, client_headers, gateway_thread, serve_churn, tensors
from test_audit_trail import tamper

from governance.domain.errors import RegistrationMismatch, StateMismatch
from governance.services.registry import versions
from governance.services.trust import audit

ROWS = [{"age": 30, "income": 4, "tenure": 1}]


def digest_of(gov, version: str) -> str:
    return versions.resolve(gov, f"churn@{version}").artifact_digest


def edit_version(gov, version: str, **columns) -> None:
    """An SQL UPDATE of one churn version's row, as a writer without the key can do."""
    sets = ", ".join(f"{name} = :{name}" for name in columns)
    tamper(
        gov,
        f"UPDATE model_versions SET {sets} WHERE version = :v"
        " AND model_id = (SELECT id FROM registered_models WHERE name = 'churn')",
        {**columns, "v": version},
    )


@pytest.fixture
def swapped(gov, register_churn, now) -> tuple[str, str]:
    """churn-api serving churn 1.0.0, whose row now names 1.1.0's artifact: (old, new)."""
    serve_churn(gov, register_churn, now)
    old, new = digest_of(gov, "1.0.0"), digest_of(gov, "1.1.0")
    assert audit.verify(gov).state_rows
    edit_version(gov, "1.0.0", artifact_digest=new)
    return old, new


def test_the_gateway_refuses_a_version_whose_digest_is_not_the_registered_one(gov, swapped):
    old, new = swapped
    with (
        gateway_thread(gov.settings) as (url, _app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        answer = client.post(f"/v2/models/{ENDPOINT}/infer", json={"inputs": tensors(ROWS)})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == (
        "churn@1.0.0: the row disagrees with its registration in the audit chain:"
        f" artifact_digest is {new} but the chain registered {old}"
    )


def test_audit_verify_names_the_edited_digest(gov, swapped):
    old, new = swapped
    expected = f"model_versions churn@1.0.0: artifact_digest is {new} but the events imply {old}"
    with pytest.raises(StateMismatch, match=f"^{re.escape(expected)}$"):
        audit.verify(gov)


def test_models_verify_checks_the_row_against_the_chain(gov, swapped):
    old, new = swapped
    with pytest.raises(RegistrationMismatch) as refused:
        versions.verify_artifact(gov, "churn", "1.0.0")
    assert str(refused.value) == (
        "churn@1.0.0: the row disagrees with its registration in the audit chain:"
        f" artifact_digest is {new} but the chain registered {old}"
    )
    assert versions.verify_artifact(gov, "churn", "1.1.0").endswith("Pipeline")


@pytest.mark.parametrize(
    ("column", "value", "shown_row", "shown_chain"),
    [
        ("training_data_version", "ds-v9", "ds-v9", ""),
        ("training_pipeline", "git:evil", "git:evil", ""),
        ("hyperparameters", '{"C": 100}', '{"C":100}', "{}"),
        ("metrics", '{"auc": 0.99}', '{"auc":0.99}', "{}"),
        ("created_by", "mallory", "mallory", "alice"),
    ],
)
def test_every_training_fact_is_replayed_against_the_chain(
    gov, register_churn, now, column, value, shown_row, shown_chain
):
    serve_churn(gov, register_churn, now)
    edit_version(gov, "1.2.0", **{column: value})
    expected = (
        f"model_versions churn@1.2.0: {column} is {shown_row} but the events imply {shown_chain}"
    )
    with pytest.raises(StateMismatch, match=f"^{re.escape(expected)}$"):
        audit.verify(gov)
    with pytest.raises(RegistrationMismatch, match=f"{column} is {re.escape(shown_row)} but"):
        versions.verify_artifact(gov, "churn", "1.2.0")


def test_a_version_whose_registration_event_was_deleted_does_not_load(gov, swapped):
    from test_audit_trail import drop_triggers

    drop_triggers(gov)
    tamper(gov, "DELETE FROM audit_events WHERE event_type = 'model.version_registered'"
           " AND version = '1.0.0'")  # fmt: skip
    with pytest.raises(RegistrationMismatch) as refused:
        versions.verify_artifact(gov, "churn", "1.0.0")
    assert str(refused.value) == (
        "churn@1.0.0: its model.version_registered event is missing from the audit trail"
    )


def test_the_cli_models_verify_is_one_line_naming_the_fact(gov, swapped, capsys, monkeypatch):
    from governance.cli import run

    old, new = swapped
    for key, value in gov.settings.model_dump().items():
        if value not in (None, "", []):
            monkeypatch.setenv(f"GOVERNANCE_{key.upper()}", str(value))
    capsys.readouterr()
    assert run(["models", "verify", "churn", "1.0.0"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: churn@1.0.0: the row disagrees with its registration in the audit chain:"
        f" artifact_digest is {new} but the chain registered {old}\n"
    )
