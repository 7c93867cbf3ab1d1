"""`governance experiments` as the logged-in person, on SQLite and PostgreSQL.

The Prefect boundary (server check, deployment check, run submission) is replaced by a
recorder here; tests/flows/test_ab_test_flow.py runs the real deployment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest
from seeding import seed_stage
from sklearn.datasets import load_breast_cancer
from test_cli import People, fails, prepare_workdir, seed

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage as S
from governance.services.promotion import approval_requests, completion, decisions, evaluation
from governance.services.registry import datasets
from governance.services.rollout import endpoints, experiments
from governance.services.trust import audit

RUN_ID = "6c1f3d2e-0000-4000-8000-000000000001"


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


def _to_staging(gov, people, version, run_id):
    now = datetime.now(UTC)
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version=version,
        target=S.staging,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=run_id,
        now=now,
    )
    decisions.decide(
        gov,
        request_id=request.id,
        approver="bob",
        role="ml_engineer",
        decision="approve",
        code=people.code("bob"),
        now=now,
    )
    completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)


@pytest.fixture
def workdir(tmp_path, monkeypatch, model_bytes, people, database_url, capsys):
    """churn 1.0.0 production (seeded); 1.1.0 and 1.2.0 staged through the door, then 1.1.0
    seeded into production (1.0.0 is archived, still approved for production); carol in."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, people, database_url)
    for i, version in enumerate(("1.0.0", "1.1.0", "1.2.0"), start=1):
        args = [version, "--artifact", f"m{i}.skops", "--card", f"card-{version}.yaml"]
        assert run(["models", "register", "churn", *args]) == 0
    seed("1.0.0", S.staging, S.production)
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = features.assign(label=target.to_numpy())
    frame["site"] = np.where(np.arange(len(frame)) % 3 == 0, "clinic", "hospital")
    frame.to_csv(tmp_path / "holdout.csv", index=False)
    gov = open_governance()
    try:
        now = datetime.now(UTC)
        datasets.register_dataset(
            gov,
            name="holdout",
            path=tmp_path / "holdout.csv",
            target="label",
            group_columns=["site"],
            actor="alice",
            now=now,
        )
        for version in ("1.1.0", "1.2.0"):
            done = evaluation.evaluate(
                gov, model="churn", version=version, dataset="holdout", actor="alice", now=now
            )
            _to_staging(gov, people, version, done.id)
        seed_stage(gov, "churn", "1.1.0", S.production, now=now)
        endpoints.create(
            gov,
            "churn-api",
            model="churn",
            actor=VerifiedActor(name="alice", method="totp"),
            now=now,
        )
    finally:
        gov.close()
    people.login("carol")
    capsys.readouterr()
    return tmp_path


@pytest.fixture
def submitted(monkeypatch):
    """Stand in for the Prefect server: record what would be submitted."""
    from flows import ab_test, promotion_runs

    calls = []
    monkeypatch.setattr(promotion_runs, "require_server", lambda: None)
    monkeypatch.setattr(ab_test, "require_deployment", lambda: None)

    def submit(found, poll_seconds):
        calls.append((found.id, poll_seconds))
        return SimpleNamespace(id=RUN_ID, name="quiet-otter")

    monkeypatch.setattr(ab_test, "submit", submit)
    return calls


def state():
    gov = open_governance()
    try:
        spec = endpoints.show(gov, "churn-api").spec.number
        # Logins and logouts are audited too; only routing and experiment events must not move.
        kinds = {"routing.changed", "experiment.started", "experiment.stopped"}
        events = [e.id for e in audit.history(gov) if e.event_type in kinds]
        return spec, [e.id for e in experiments.list_experiments(gov)], events
    finally:
        gov.close()


START = ["experiments", "start", "churn-api", "--variant", "A=1.1.0", "--variant", "B=1.0.0"]


def test_start_show_stop_and_list(workdir, submitted, capsys):
    assert run([*START, "--split", "50/50", "--until", "2000", "--poll-seconds", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    gov = open_governance()
    try:
        [found] = experiments.list_experiments(gov)
    finally:
        gov.close()
    assert (
        out[0]
        == f"experiment {found.id} started on churn-api: A=1.1.0 50%, B=1.0.0 50%; 2000 samples"
    )
    assert out[1].startswith(f"flow run {RUN_ID} (quiet-otter): ")
    assert submitted == [(found.id, 5.0)]
    assert found.started_by == "carol"

    assert run(["experiments", "show", found.id]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"experiment {found.id} (running) on churn-api: A=1.1.0 50%, B=1.0.0 50%; 2000 samples"
    )
    assert out[2:] == ["  A: 0 predictions, 0 outcomes", "  B: 0 predictions, 0 outcomes"]

    assert fails([*START, "--split", "50/50", "--until", "2h"], capsys) == (
        f"error: experiment {found.id} is already running on 'churn-api'"
    )
    assert run(["experiments", "stop", found.id, "--reason", "wrong metric"]) == 0
    assert capsys.readouterr().out == (
        f"experiment {found.id} stopped: no winner: stopped by carol: wrong metric\n"
    )
    assert run(["experiments", "list"]) == 0
    listed = capsys.readouterr().out
    assert found.id in listed and "stopped" in listed


BAD = {
    "split-sum": (
        ["--split", "60/50", "--until", "100"],
        "error: the split must add up to 100, got 110 ({'A': 60, 'B': 50})",
    ),
    "split-count": (
        ["--split", "50/25/25", "--until", "100"],
        "error: --split '50/25/25' has 3 shares for 2 variants",
    ),
    "split-text": (
        ["--split", "half/half", "--until", "100"],
        "error: --split 'half/half': use whole percentages like 50/50",
    ),
    "until": (
        ["--split", "50/50", "--until", "2 weeks"],
        "error: --until '2 weeks': give a sample count (e.g. 2000) or a duration (30m, 2h, 3d)",
    ),
}


@pytest.mark.parametrize(("extra", "line"), BAD.values(), ids=BAD)
def test_bad_input_is_one_line_and_changes_nothing(workdir, submitted, capsys, extra, line):
    before = state()
    assert fails([*START, *extra], capsys) == line
    assert state() == before and submitted == []


def test_refusals_from_the_service_change_nothing(workdir, submitted, capsys, people):
    before = state()
    unknown = ["experiments", "start", "churn-api", "--variant", "A=1.1.0", "--variant", "B=9.9.9"]
    assert fails([*unknown, "--split", "50/50", "--until", "100"], capsys) == (
        "error: variant B: model 'churn' has no version '9.9.9'"
    )
    staged = ["experiments", "start", "churn-api", "--variant", "A=1.1.0", "--variant", "B=1.2.0"]
    assert fails([*staged, "--split", "50/50", "--until", "100"], capsys) == (
        "error: variant B: churn@1.2.0 is not approved for production (it is staging): an A/B "
        "arm serves a share of everyone, so only a version approved for production may be one"
    )
    same = ["experiments", "start", "churn-api", "--variant", "A=1.1.0", "--variant", "B=1.1.0"]
    assert fails([*same, "--split", "50/50", "--until", "3650d"], capsys) == (
        "error: variants A and B both serve 1.1.0: an experiment's arms must be distinct versions"
    )
    long = fails([*START, "--split", "50/50", "--until", "3650d"], capsys)
    assert long.startswith("error: the experiment would run 3650 days (until ")
    assert long.endswith("over the policy's cap of 30 days (experiments.max_duration_days)")
    people.login("alice")
    assert fails([*START, "--split", "50/50", "--until", "100"], capsys) == (
        "error: alice does not hold the role ml_lead: starting an experiment refused"
    )
    people.logout()
    assert fails([*START, "--split", "50/50", "--until", "100"], capsys) == (
        "error: not logged in: run `governance login NAME --code CODE`"
    )
    assert fails(["experiments", "show", "nope"], capsys) == "error: unknown experiment 'nope'"
    assert state() == before and submitted == []


def test_start_needs_a_prefect_server(workdir, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = state()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings({PREFECT_API_URL: None}):
        assert fails([*START, "--split", "50/50", "--until", "30m"], capsys) == (
            "error: PREFECT_API_URL is not set: start the stack with `make up` "
            "and export what it prints"
        )
    assert state() == before
