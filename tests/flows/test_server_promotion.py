"""A whole promotion with approvals, by people whose laptops hold only the server's URL.

The governance server is a real process with the database, the key and the policy; the
CLI runs in processes whose environment has none of them.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from flowkit import wait_suspended
from serverkit import REPO, THIN, person_env, server_process, thin

from governance.services.promotion import approval_requests
from governance.services.registry import versions

pytestmark = pytest.mark.sqlite_only
FLOW_RUN = re.compile(r"^flow run ([0-9a-f-]{36}) ", re.M)


@pytest.fixture(scope="module")
def governance_server(prefect_api, served, flow_settings):
    """`governance server run` on the session's home, creating runs on the session's Prefect."""
    with server_process(flow_settings, env={"PREFECT_API_URL": prefect_api}) as (url, _):
        yield url


def laptop(url, tmp_path, codes, name: str) -> dict[str, str]:
    """`name` logs in on a laptop that knows only the server's URL; its environment."""
    env = person_env(url, tmp_path / name)
    done = thin(env, "login", name, "--code", codes.code(name))
    assert done.returncode == 0, done.stderr
    return env


def test_a_promotion_with_approvals_through_the_server(world, governance_server, tmp_path):
    w, url = world, governance_server
    alice = laptop(url, tmp_path, w.codes, "alice")
    assert "GOVERNANCE_DATABASE_URL" not in alice and "GOVERNANCE_POLICY_FILE" not in alice
    promote = subprocess.Popen(
        [*THIN, "promote", w.churn, "1.1.0", "--dataset", "holdout"],
        env=alice,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = promote.stdout.readline()
        run_id = FLOW_RUN.match(first).group(1)
        wait_suspended(run_id)
        [request] = [
            r for r in approval_requests.pending_requests(w.gov) if r.flow_run_id == run_id
        ]
        assert request.requested_by == "alice"

        carol = laptop(url, tmp_path, w.codes, "carol")
        # The body names nobody: the approver is the token's person.
        refused = thin(carol, "approve", run_id, "--role", "risk_officer",
                       "--decision", "approve", "--code", w.codes.code("carol"))  # fmt: skip
        assert refused.returncode == 1
        assert refused.stderr == "error: refused: carol does not hold the role risk_officer\n"
        done = thin(carol, "approve", run_id, "--role", "ml_lead", "--decision", "approve",
                    "--code", w.codes.code("carol"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"recorded: approve by carol as ml_lead on {w.churn}@1.1.0 -> production; "
            "request open, still needs risk_officer\n"
        )
        wait_suspended(run_id)
        dave = laptop(url, tmp_path, w.codes, "dave")
        done = thin(dave, "approve", run_id, "--role", "risk_officer", "--decision", "approve",
                    "--code", w.codes.code("dave"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        out, err = promote.communicate(timeout=240)
    finally:
        if promote.poll() is None:
            promote.kill()
    assert promote.returncode == 0, err
    assert out.splitlines()[-1] == f"{w.churn}@1.1.0: Promoted: {w.churn}@1.1.0 is now production"
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.1.0"
    closed = approval_requests.get_request(w.gov, request.id)
    assert [(a.approver, a.role) for a in closed.approvals] == [
        ("carol", "ml_lead"),
        ("dave", "risk_officer"),
    ]
