"""`governance endpoints|flags|rollback` on SQLite and PostgreSQL: lines users read, refusals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_cli import People, fails, prepare_workdir, seed
from test_cli_governed import snapshot

from governance.cli import run
from governance.domain.models import LifecycleStage as S


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, people, database_url, capsys) -> Path:
    """churn 1.0.0 in production and 1.1.0 in development; alice is logged in."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, people, database_url)
    for version, artifact in (("1.0.0", "m1.skops"), ("1.1.0", "m2.skops")):
        args = [version, "--artifact", artifact, "--card", f"card-{version}.yaml"]
        assert run(["models", "register", "churn", *args]) == 0
    seed("1.0.0", S.staging, S.production)
    capsys.readouterr()
    return tmp_path


def test_create_show_history_and_at(workdir, capsys):
    before = datetime.now(UTC) - timedelta(minutes=1)
    assert run(["endpoints", "create", "churn-api", "--model", "churn"]) == 0
    out = capsys.readouterr().out
    assert "churn-api spec 1 (" in out and "by alice: created): 1.0.0 100%" in out
    assert run(["endpoints", "show", "churn-api", "--json"]) == 0
    shown = capsys.readouterr().out
    assert '"spec_number": 1' in shown and '"stable": "1.0.0"' in shown
    assert run(["endpoints", "at", "churn-api", "--time", datetime.now(UTC).isoformat()]) == 0
    answer = capsys.readouterr().out
    assert "spec 1 (id " in answer
    assert "│ 1.0.0   │ 100%   │ stable" in answer
    error = fails(["endpoints", "at", "churn-api", "--time", before.isoformat()], capsys)
    assert error.startswith(f"error: endpoint 'churn-api' did not exist at {before.isoformat()}")
    error = fails(["endpoints", "at", "churn-api", "--time", "yesterday"], capsys)
    assert error == "error: --time 'yesterday' is not an ISO 8601 time"


def test_refusals_are_one_line_and_change_nothing(workdir, capsys, people):
    assert run(["endpoints", "create", "churn-api", "--model", "churn"]) == 0
    before = snapshot(workdir)
    cases = {
        ("endpoints", "create", "churn-api", "--model", "churn"): (
            "error: endpoint 'churn-api' already exists"
        ),
        ("endpoints", "show", "nope"): (
            "error: unknown endpoint 'nope': create it with `governance endpoints create`"
        ),
        ("flags", "set", "churn-api", "beta", "--version", "1.1.0", "--orgs", "acme"): (
            "error: alice does not hold the role ml_lead: setting a flag refused"
        ),
        ("flags", "set", "churn-api", "beta", "--version", "1.1.0"): (
            "error: flag 'beta': Value error, flag 'beta' needs a criterion: user ids, org ids, "
            "attributes or a percentage"
        ),
        ("rollback", "churn-api"): "error: alice does not hold the role ml_lead: endpoint "
        "rollback refused",
    }
    for argv, line in cases.items():
        assert fails(list(argv), capsys) == line
    assert snapshot(workdir) == before
    people.login("carol")
    before = snapshot(workdir)
    error = fails(
        ["flags", "set", "churn-api", "beta", "--version", "1.1.0", "--orgs", "a"], capsys
    )
    assert error == (
        "error: churn@1.1.0 never passed a promotion to staging or production: "
        "a flag may only target a promoted version"
    )
    error = fails(["rollback", "churn-api"], capsys)
    assert error == "error: endpoint 'churn-api' has no previous spec to roll back to"
    assert snapshot(workdir) == before


def test_deprecating_the_only_served_version_needs_a_production_role(workdir, capsys, people):
    assert run(["endpoints", "create", "churn-api", "--model", "churn"]) == 0
    before = snapshot(workdir)
    argv = ["models", "transition", "churn", "1.0.0", "deprecated", "--reason", "tidy up"]
    assert fails(argv, capsys) == (
        "error: alice holds none of the production roles (ml_lead, risk_officer): moving "
        "churn@1.0.0 to deprecated refused, since endpoint 'churn-api' serves it as its stable "
        "version and no production version can take over"
    )
    assert snapshot(workdir) == before
    people.login("carol")
    capsys.readouterr()
    assert run(argv) == 0
    assert capsys.readouterr().out == (
        "churn@1.0.0 is now deprecated\n"
        "churn-api keeps serving 1.0.0 past its sunset until a successor is promoted (no "
        "outage was accepted)\n"
    )


def test_a_rejected_retro_review_rolls_back_or_is_escalated_in_pending(
    workdir, capsys, people, monkeypatch
):
    import yaml

    from flows import promotion_runs
    from governance.config import EXAMPLE_POLICY

    monkeypatch.setattr(promotion_runs, "paused_approvals", lambda gov: [])
    seed("1.1.0", S.staging)
    people.login("carol")
    assert run(["promote", "churn", "1.1.0", "--break-glass", "--reason", "fraud spike"]) == 0
    review = capsys.readouterr().out.split("retro-review ", 1)[1].split(" ", 1)[0]
    argv = ["approve", review, "--approver", "dave", "--role", "risk_officer"]
    assert run([*argv, "--decision", "reject", "--code", people.code("dave")]) == 0
    assert capsys.readouterr().out == (
        f"recorded: retro-review {review} is rejected\n"
        "break_glass_rejection: rolled back to churn@1.0.0\n"
    )

    # With `break_glass_rejection: escalate` the rejection stays pending until a lead acts.
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    (workdir / "escalate.yaml").write_text(
        yaml.safe_dump({**policy, "break_glass_rejection": "escalate"})
    )
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(workdir / "escalate.yaml"))
    # Breaking glass again for the rejected version would undo the decision: refused.
    again = fails(["promote", "churn", "1.1.0", "--break-glass", "--reason", "again"], capsys)
    assert re.fullmatch(
        f"error: churn@1\\.1\\.0: its production request {review} was rejected by dave "
        r"\(risk_officer\) on \d{4}-\d{2}-\d{2}: break-glass may not put it in "
        "production until a later production request is approved",
        again,
    ), again
    register = ["models", "register", "churn", "1.2.0", "--artifact", "m3.skops"]
    assert run([*register, "--card", "card-1.2.0.yaml"]) == 0
    seed("1.2.0", S.staging)
    assert run(["promote", "churn", "1.2.0", "--break-glass", "--reason", "again"]) == 0
    second = capsys.readouterr().out.split("retro-review ", 1)[1].split(" ", 1)[0]
    argv = ["approve", second, "--approver", "dave", "--role", "risk_officer"]
    assert run([*argv, "--decision", "reject", "--code", people.code("dave")]) == 0
    assert capsys.readouterr().out == (
        f"recorded: retro-review {second} is rejected\n"
        "break_glass_rejection: escalated: the policy escalates every rejection "
        "(break_glass_rejection: escalate); churn@1.2.0 stays in production until an ml_lead "
        "acts (rolls back, or promotes a successor)\n"
    )
    assert run(["approvals", "pending"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if second in line]
    assert "retro-review rejected," in line and "churn@1.2.0" in line
