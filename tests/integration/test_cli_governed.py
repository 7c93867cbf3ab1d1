"""Governed CLI acts run as the logged-in person: the door, rollback, risk and break-glass.

On SQLite and PostgreSQL. Stages are seeded with `seed_stage` (tests/seeding.py) for a
test's starting state; the commands under test are run in-process through `governance.cli.run`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_cli import People, fails, prepare_workdir, seed, table_row

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.models import LifecycleStage as S
from governance.domain.models import RiskLevel
from governance.services.promotion import approval_queue
from governance.services.registry import versions
from governance.services.trust import audit

NOT_LOGGED_IN = "error: not logged in: run `governance login NAME --code CODE`"


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, people, database_url, capsys) -> Path:
    """churn 1.0.0 and 1.1.0 registered by alice, who is logged in; on the test's backend."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, people, database_url)
    for version, artifact in (("1.0.0", "m1.skops"), ("1.1.0", "m2.skops")):
        args = [version, "--artifact", artifact, "--card", f"card-{version}.yaml"]
        assert run(["models", "register", "churn", *args]) == 0
    (tmp_path / "holdout.csv").write_text("x,label\n1,0\n2,1\n3,0\n4,1\n")
    capsys.readouterr()
    return tmp_path


def snapshot(workdir: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Every row of every table, and every stored file: what a refusal must leave as it was."""
    gov = open_governance()
    try:
        with gov.engine.connect() as conn:
            meta = sa.MetaData()
            meta.reflect(conn)
            rows = {
                table.name: sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
                for table in meta.sorted_tables
            }
    finally:
        gov.close()
    home = workdir / ".governance"
    files = sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and not p.name.startswith("governance.db")
    )
    return rows, files


def stages() -> dict[str, S]:
    gov = open_governance()
    try:
        return {v.version: v.stage for v in versions.search(gov, name="churn")}
    finally:
        gov.close()


def events(event_type: str) -> list:
    gov = open_governance()
    try:
        return audit.history(gov, event_type=event_type)
    finally:
        gov.close()


STATE_CHANGING = {
    "register": [
        *("models", "register", "churn", "1.2.0"),
        *("--artifact", "m3.skops", "--card", "card-1.2.0.yaml"),
    ],
    "revise-card": ["models", "revise-card", "churn", "1.0.0", "--card", "card-1.0.0.yaml"],
    "transition": ["models", "transition", "churn", "1.0.0", "retired"],
    "alias": ["models", "alias", "churn", "champion", "1.0.0"],
    "rollback": ["models", "rollback", "churn", "1.0.0", "--reason", "bad release"],
    "risk": ["models", "risk", "churn", "critical", "--reason", "now scores minors"],
    "dataset": ["datasets", "register", "holdout", "holdout.csv", "--target", "label"],
    "promote": ["promote", "churn", "1.1.0", "--dataset", "holdout"],
    "break-glass": ["promote", "churn", "1.1.0", "--break-glass", "--reason", "outage"],
}


@pytest.mark.parametrize("command", list(STATE_CHANGING))
def test_without_a_session_state_changing_commands_refuse(command, workdir, people, capsys):
    people.logout()
    before = snapshot(workdir)
    assert fails(STATE_CHANGING[command], capsys) == NOT_LOGGED_IN
    assert snapshot(workdir) == before


@pytest.mark.parametrize("target", [S.staging, S.production])
def test_transition_into_a_governed_stage_names_the_door(target, workdir, capsys):
    if target == S.production:
        seed("1.0.0", S.staging)
    before = snapshot(workdir)
    assert fails(["models", "transition", "churn", "1.0.0", target.value], capsys) == (
        f"error: churn@1.0.0: {target.value} is entered only through promote-model: "
        f"use `governance promote churn 1.0.0 --target {target.value} --dataset NAME`"
    )
    assert snapshot(workdir) == before


def test_transition_to_retired_and_to_deprecated_with_a_reason_work(workdir, capsys):
    seed("1.1.0", S.staging, S.production)
    assert run(["models", "transition", "churn", "1.0.0", "retired"]) == 0
    assert capsys.readouterr().out == "churn@1.0.0 is now retired\n"
    before = snapshot(workdir)
    assert fails(["models", "transition", "churn", "1.1.0", "deprecated"], capsys) == (
        "error: churn@1.1.0: a move to deprecated needs a reason (--reason)"
    )
    assert snapshot(workdir) == before
    argv = ["models", "transition", "churn", "1.1.0", "deprecated", "--reason", "data shift"]
    assert run(argv) == 0
    assert capsys.readouterr().out == "churn@1.1.0 is now deprecated\n"
    assert stages() == {"1.0.0": S.retired, "1.1.0": S.deprecated}
    moves = [(e.version, e.actor, e.details["to"]) for e in events("model.stage_changed")]
    assert moves[-2:] == [("1.0.0", "alice", "retired"), ("1.1.0", "alice", "deprecated")]
    assert events("model.stage_changed")[-1].details["reason"] == "data shift"


def test_rollback_needs_an_ml_lead_and_works_inside_the_grace_period(workdir, people, capsys):
    seed("1.0.0", S.staging, S.production)
    seed("1.1.0", S.staging, S.production)  # archives 1.0.0: deprecated, in its grace period
    assert stages() == {"1.0.0": S.deprecated, "1.1.0": S.production}
    people.login("dave")
    before = snapshot(workdir)
    assert fails(["models", "rollback", "churn", "1.0.0", "--reason", "bad"], capsys) == (
        "error: dave does not hold the role ml_lead: rollback refused"
    )
    assert snapshot(workdir) == before

    people.login("carol")
    before = snapshot(workdir)
    assert fails(["models", "rollback", "churn", "1.0.0"], capsys) == (
        "error: a rollback needs a reason (--reason TEXT); it is recorded"
    )
    assert fails(["models", "rollback", "churn", "1.1.0", "--reason", "bad"], capsys) == (
        "error: churn@1.1.0 is production: only a deprecated version can be rolled back to"
    )
    assert snapshot(workdir) == before
    argv = ["models", "rollback", "churn", "1.0.0", "--reason", "1.1.0 misroutes churners"]
    assert run(argv) == 0
    assert capsys.readouterr().out == "churn@1.0.0 is production again (rolled back by carol)\n"
    assert stages() == {"1.0.0": S.production, "1.1.0": S.deprecated}
    [event] = events("model.rolled_back")
    assert (event.actor, event.version, event.details) == (
        "carol",
        "1.0.0",
        {"replaced": "1.1.0", "reason": "1.1.0 misroutes churners", "verified": True},
    )


def test_rollback_after_the_grace_period_is_refused(workdir, people, capsys):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    seed("1.0.0", S.staging, S.production, at=start)
    seed("1.1.0", S.staging, S.production, at=start + timedelta(days=5))
    people.login("carol")
    before = snapshot(workdir)
    assert fails(["models", "rollback", "churn", "1.0.0", "--reason", "too late"], capsys) == (
        "error: churn@1.0.0: illegal transition deprecated -> production: "
        f"the rollback grace period ended at {start + timedelta(days=35)}"
    )
    assert snapshot(workdir) == before
    assert stages() == {"1.0.0": S.deprecated, "1.1.0": S.production}


def test_risk_change_needs_a_risk_officer_and_is_audited(workdir, people, capsys):
    people.login("carol")
    before = snapshot(workdir)
    argv = ["models", "risk", "churn", "critical", "--reason", "now scores minors"]
    assert fails(argv, capsys) == (
        "error: carol does not hold the role risk_officer: risk change refused"
    )
    assert snapshot(workdir) == before

    people.login("dave")
    assert run(argv) == 0
    assert capsys.readouterr().out == "churn is now at critical risk\n"
    gov = open_governance()
    try:
        with gov.store.read() as tx:
            assert tx.registry.get_model("churn").risk_level == RiskLevel.critical
    finally:
        gov.close()
    assert run(["audit", "log", "--type", "model.risk_changed"]) == 0
    [event] = events("model.risk_changed")
    row = table_row(capsys.readouterr().out, str(event.seq))
    assert row[2:] == [
        "model.risk_changed",
        "churn",
        "dave",
        "from=high reason=now scores minors to=critical verified=True",
    ]
    assert fails(argv, capsys) == "error: churn is already at critical risk"


def test_break_glass_needs_a_reason_and_the_role(workdir, people, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    seed("1.0.0", S.staging, S.production)
    seed("1.1.0", S.staging)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    before = snapshot(workdir)
    with temporary_settings({PREFECT_API_URL: None}):  # break-glass needs no Prefect server
        assert fails(["promote", "churn", "1.1.0", "--break-glass"], capsys) == (
            "error: break-glass needs a reason (--reason TEXT); it is recorded"
        )
        argv = ["promote", "churn", "1.1.0", "--break-glass", "--reason", "fraud spike"]
        assert fails(argv, capsys) == (
            "error: alice holds none of the break-glass roles (ml_lead): break-glass refused"
        )
        assert snapshot(workdir) == before
        people.login("carol")
        before = snapshot(workdir)
        assert fails([*argv, "--target", "staging"], capsys) == (
            "error: break-glass promotes to production only"
        )
        assert snapshot(workdir) == before
        assert run(argv) == 0
    out = capsys.readouterr().out.splitlines()
    gov = open_governance()
    try:
        [review] = approval_queue.open_retro_reviews(gov)
    finally:
        gov.close()
    assert out == [
        "BREAK-GLASS: churn@1.1.0 is now production (by carol: fraud spike)",
        f"retro-review {review.id} opened: needs ml_lead, risk_officer, legal; "
        "see `governance approvals pending`",
    ]
    assert (review.version, review.requested_by, review.kind) == ("1.1.0", "carol", "retro_review")
    assert stages() == {"1.0.0": S.deprecated, "1.1.0": S.production}
    [event] = events("promotion.break_glass")
    assert (event.actor, event.version, event.details["reason"]) == (
        "carol",
        "1.1.0",
        "fraud spike",
    )
