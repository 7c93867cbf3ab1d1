"""`governance login / promote / approvals pending / approve` against the served deployment."""

from __future__ import annotations

import re

import pytest
from flowkit import wait_final, wait_suspended

from governance.cli import run
from governance.services.promotion import approval_queue, approval_requests
from governance.services.registry import versions
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def login(w, capsys, name: str) -> None:
    """`governance login NAME --code CODE` with the person's current code."""
    code, out, _ = cli(capsys, "login", name, "--code", w.codes.code(name))
    assert code == 0 and out.startswith(f"logged in as {name} until ")


def approve(w, capsys, run_id, approver, role, decision="approve", code=None):
    """`governance approve` as a person types it, with their code unless one is given."""
    wait_suspended(run_id)
    return cli(
        capsys,
        "approve",
        run_id,
        "--approver",
        approver,
        "--role",
        role,
        "--decision",
        decision,
        "--code",
        w.codes.code(approver) if code is None else code,
        "--notes",
        f"{approver} via CLI",
    )


def test_promote_then_approve_from_the_cli_with_refusals(world, capsys):
    w = world
    login(w, capsys, "alice")
    code, out, _ = cli(capsys, "promote", w.churn, "1.1.0", "--dataset", "holdout", "--no-wait")
    assert code == 0
    run_id = UUID.search(out).group(0)
    assert f"/runs/flow-run/{run_id}" in out
    wait_suspended(run_id)
    code, table, _ = cli(capsys, "approvals", "pending")
    [row, link] = [line for line in table.splitlines() if run_id in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:6] == [
        run_id,
        "promotion run",
        f"{w.churn}@1.1.0",
        "production",
        "alice",
        "ml_lead, risk_officer",
    ]
    assert cells[7] == "verified"
    assert link.strip().endswith(f"/runs/flow-run/{run_id}")

    refusals = [
        ("mallory", "ml_lead", "NotInRoster", "mallory is not in the policy roster"),
        ("bob", "ml_lead", "RoleNotHeld", "bob does not hold the role ml_lead"),
        ("alice", "ml_engineer", "SeparationOfDuties", "alice cannot approve their own request"),
    ]
    for approver, role, _error, reason in refusals:
        code, _, err = approve(w, capsys, run_id, approver, role, code="123456")
        assert (code, err) == (1, f"error: refused: {reason}\n")
    code, _, err = approve(w, capsys, run_id, "carol", "ml_lead", code="000000")
    assert (code, err) == (1, "error: refused: one-time code for carol is wrong or expired\n")

    code, out, _ = approve(w, capsys, run_id, "frank", "ml_lead")
    assert code == 0
    assert out == (
        f"recorded: approve by frank as ml_lead on {w.churn}@1.1.0 -> production; "
        "request open, still needs risk_officer\n"
    )
    code, _, err = approve(w, capsys, run_id, "frank", "risk_officer")
    assert code == 1 and err.startswith("error: refused: frank already approved as ml_lead; ")
    code, out, _ = approve(w, capsys, run_id, "dave", "risk_officer")
    assert code == 0 and "request approved, still needs nothing more" in out
    assert wait_final(run_id).name == "Promoted"
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.1.0"

    code, _, err = cli(
        capsys,
        "approve",
        run_id,
        "--approver",
        "carol",
        "--role",
        "ml_lead",
        "--decision",
        "approve",
        "--code",
        w.codes.code("carol"),
    )
    assert (code, err) == (
        1,
        f"error: flow run {run_id} is Promoted, not waiting for an approval\n",
    )
    refused = audit.history(w.gov, event_type="approval.refused", model=w.churn)
    assert [(e.actor, e.details["error"]) for e in refused] == [
        *((approver, error) for approver, _, error, _ in refusals),
        ("carol", "InvalidCode"),
        ("frank", "SeparationOfDuties"),
    ]


def test_a_second_promotion_of_the_same_version_is_refused_naming_the_open_run(world, capsys):
    w = world
    login(w, capsys, "alice")
    _, out, _ = cli(capsys, "promote", w.churn, "1.1.0", "--dataset", "holdout", "--no-wait")
    run_id = UUID.search(out).group(0)
    wait_suspended(run_id)
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.model_name == w.churn]
    code, _, err = cli(capsys, "promote", w.churn, "1.1.0", "--dataset", "holdout", "--no-wait")
    assert code == 1
    assert err == (
        f"error: {w.churn}@1.1.0 already has an open promotion request {request.id} to "
        f"production (flow run {run_id}): approve, reject or let it expire first\n"
    )
    approve(w, capsys, run_id, "carol", "ml_lead", decision="reject")
    assert wait_final(run_id).name == "Rejected"


def test_promote_waits_and_exits_non_zero_unless_promoted(world, capsys):
    w = world
    login(w, capsys, "alice")
    code, out, _ = cli(capsys, "promote", w.churn, "1.2.0", "--dataset", "holdout")
    assert code == 1
    assert out.splitlines()[-1].startswith(f"{w.churn}@1.2.0: GateFailed: gate failed: ")
    assert audit.history(w.gov, event_type="approval.requested", model=w.churn) == []


def test_break_glass_opens_a_retro_review_that_pending_lists_until_closed(world, capsys):
    w = world
    login(w, capsys, "carol")
    code, out, _ = cli(
        capsys, "promote", w.churn, "1.1.0", "--break-glass", "--reason", "fraud spike"
    )
    assert code == 0
    assert out.splitlines()[0] == (
        f"BREAK-GLASS: {w.churn}@1.1.0 is now production (by carol: fraud spike)"
    )
    [review] = [r for r in approval_queue.open_retro_reviews(w.gov) if r.model_name == w.churn]
    _, table, _ = cli(capsys, "approvals", "pending")
    [row] = [line for line in table.splitlines() if review.id in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == [
        review.id,
        "retro-review (break-glass)",
        f"{w.churn}@1.1.0",
        "production",
        "carol",
        "ml_lead, risk_officer",
        "until closed",
        "verified",
    ]

    for approver, role in (("gina", "ml_lead"), ("hank", "risk_officer")):
        code, out, err = cli(
            capsys,
            "approve",
            review.id,
            "--approver",
            approver,
            "--role",
            role,
            "--decision",
            "approve",
            "--code",
            w.codes.code(approver),
        )
        assert code == 0, err
    assert out == f"recorded: retro-review {review.id} is approved\n"
    _, table, _ = cli(capsys, "approvals", "pending")
    assert review.id not in table
    [event] = audit.history(w.gov, event_type="promotion.break_glass", model=w.churn)
    assert (event.actor, event.details["reason"]) == ("carol", "fraud spike")
