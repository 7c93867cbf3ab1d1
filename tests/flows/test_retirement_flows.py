"""retirement-audit and retirement-review as real Prefect runs: threads and a local Dask
cluster, bad runner settings, a SIGKILL mid-audit, and a review approved through its pauses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from flowkit import actor, now, wait_final, wait_suspended
from prefect.client.orchestration import get_client

from flows import promotion_runs
from flows.retirement_audit import retirement_audit_flow
from governance.domain.models import LifecycleStage as S
from governance.domain.rollout import FlagRule
from governance.services.monitoring import batches, references, retirement_review
from governance.services.promotion import approval_requests, completion, decisions, evaluation
from governance.services.registry import versions
from governance.services.rollout import endpoints, routing
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only
ROOT = Path(__file__).resolve().parents[2]


def drifted(w, model, version, tmp_path, trained, rows=200):
    """Store the reference from the holdout, then ingest a batch with 12 features moved."""
    found = versions.resolve(w.gov, f"{model}@{version}")
    references.reference_from_dataset(
        w.gov, found=found, dataset="holdout", actor="alice", now=now()
    )
    frame = pd.DataFrame(trained["rows"]).sample(n=rows, replace=True, random_state=1)
    for column in frame.columns[:12]:
        frame[column] = frame[column] * 3 + frame[column].std() * 2
    frame["label"] = trained["labels"][0]
    path = tmp_path / f"{model}-{version}.csv"
    frame.to_csv(path, index=False)
    batches.ingest(
        w.gov, model=model, version=version, path=path, labels="label", actor="bob", now=now()
    )


def verdicts(w, *models):
    rows = retirement_review.latest_findings(w.gov)
    return {(r.model_name, r.version): r.verdict for r in rows if r.model_name in models}


def test_the_audit_fans_out_on_threads_and_writes_its_artifacts(world, tmp_path, trained):
    w = world
    drifted(w, w.churn, "1.0.0", tmp_path, trained)
    state = retirement_audit_flow(models=[w.churn, w.triage], return_state=True)
    assert (state.name, state.message) == (
        "Audited",
        "1 versions checked: 0 retain, 1 re-validate, 0 retire",
    )
    [row] = retirement_review.latest_findings(w.gov, w.churn)
    assert row.report_digest and w.gov.artifacts.exists(row.report_digest)
    run_id = state.state_details.flow_run_id
    [table] = [a for a in artifacts("retirement-findings") if a.flow_run_id == run_id]
    assert [(r["model"], r["version"], r["verdict"]) for r in _json(table.data)] == [
        (w.churn, "1.0.0", "re-validate")
    ]
    [link] = [a for a in artifacts(f"drift-report-{w.churn}-1-0-0") if a.flow_run_id == run_id]
    path = w.gov.artifacts.path_for(row.report_digest).with_suffix(".html").resolve()
    assert path.read_bytes() == w.gov.artifacts.read_verified(row.report_digest)
    assert link.data == f"[Evidently drift report: {w.churn}@1.0.0]({path.as_uri()})"


def artifacts(key: str):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def _json(data):
    import json

    return json.loads(data) if isinstance(data, str) else data


def test_the_fan_out_runs_on_a_local_dask_cluster(world, tmp_path, trained, monkeypatch):
    w = world
    drifted(w, w.churn, "1.0.0", tmp_path, trained)
    registry_events = len(audit.history(w.gov, event_type="retirement.checked", model=w.churn))
    monkeypatch.setenv("GOVERNANCE_TASK_RUNNER", "dask")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    state = retirement_audit_flow(models=[w.churn], return_state=True)
    assert state.name == "Audited", state.message
    assert verdicts(w, w.churn) == {(w.churn, "1.0.0"): "re-validate"}
    events = audit.history(w.gov, event_type="retirement.checked", model=w.churn)
    assert len(events) == registry_events + 1
    task_runs = _task_runs_of(state)
    assert [t.name.split("-")[:2] for t in task_runs] == [["audit", "model"]]
    assert all(t.state.name == "Completed" for t in task_runs)
    assert "fan-out on DaskTaskRunner (local cluster)" in _logs(state)


def _logs(state) -> str:
    """Every log line of the audit run and its fan-out, once the handler has sent them."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    ids = [state.state_details.flow_run_id, *{t.flow_run_id for t in _task_runs_of(state)}]
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
    return "\n".join(log.message for log in logs)


def _task_runs_of(state):
    """The audit-model task runs of one audit (its fan-out sub-flow's tasks)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(
                    any_=[state.state_details.flow_run_id]
                )
            )
        )
        ids = {c.id for c in children}
        return [t for t in client.read_task_runs() if t.flow_run_id in ids]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"GOVERNANCE_TASK_RUNNER": "ray"},
            "setting GOVERNANCE_TASK_RUNNER: Input should be 'threads' or 'dask'",
        ),
        (
            {"GOVERNANCE_TASK_RUNNER": "dask", "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"},
            "setting DASK_SCHEDULER_ADDRESS: the Dask scheduler at tcp://127.0.0.1:9 is "
            "unreachable",
        ),
        (
            {"GOVERNANCE_TASK_RUNNER": "dask", "DASK_SCHEDULER_ADDRESS": "scheduler"},
            "setting DASK_SCHEDULER_ADDRESS: 'scheduler' is not a scheduler address",
        ),
    ],
)
def test_a_bad_runner_setting_ends_the_audit_named_and_changes_nothing(
    world, monkeypatch, env, words
):
    w = world
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = len(audit.history(w.gov, event_type="retirement.checked"))
    state = retirement_audit_flow(models=[w.churn], return_state=True)
    assert state.name == "BadConfiguration"
    assert state.message.startswith(words)
    assert len(audit.history(w.gov, event_type="retirement.checked")) == before


def run_audit(models: list[str]) -> subprocess.Popen:
    """The audit in its own process, as a worker would run it (reports on the report worker)."""
    code = (
        "from flows.retirement_audit import retirement_audit_flow as f; "
        f"print(f(models={models!r}, return_state=True).name)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GOVERNANCE_TASK_WORKERS": "1",
            # A two-model audit would render inline: the SIGKILL must land with a worker up.
            "GOVERNANCE_REPORT_WORKER_MIN_VERSIONS": "0",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def test_sigkill_mid_audit_leaves_whole_rows_and_a_rerun_finishes(world, tmp_path, trained):
    w = world
    models = [w.churn, w.triage]
    drifted(w, w.churn, "1.0.0", tmp_path, trained)
    before = {e.id for e in audit.history(w.gov, event_type="retirement.checked")}
    process = run_audit(models)
    # Killed once its report worker runs: mid-audit, a drifting version's report on its way.
    deadline = time.monotonic() + 60
    while not children_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_of(process.pid), "the audit never started its report worker"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    # Every verdict the killed run recorded has its event, and the chain and tables agree.
    assert audit.verify(w.gov).chain.ok
    written = [
        e for e in audit.history(w.gov, event_type="retirement.checked") if e.id not in before
    ]
    with w.gov.store.read() as tx:
        for event in written:
            assert tx.monitoring.audit_by_id(event.details["audit_id"]) is not None
    state = retirement_audit_flow(models=models, return_state=True)
    assert state.name == "Audited", state.message
    assert verdicts(w, *models) == {(w.churn, "1.0.0"): "re-validate"}


def test_a_retire_verdict_is_reviewed_through_its_pauses_and_deprecates(world, tmp_path, trained):
    """1.0.0 is archived by 1.1.0's promotion but still serves acme by a flag, and drifts."""
    w = world
    run = evaluation.evaluate(
        w.gov, model=w.churn, version="1.1.0", dataset="holdout", actor="alice", now=now()
    )
    request = approval_requests.open_approval(
        w.gov,
        model=w.churn,
        version="1.1.0",
        target=S.production,
        requester=actor("alice"),
        evaluation_run_id=run.id,
        now=now(),
    )
    for person, role in (("carol", "ml_lead"), ("dave", "risk_officer")):  # medium risk
        code = w.codes.code(person)  # may wait for a fresh step: the time is read after it
        decisions.decide(
            w.gov,
            request_id=request.id,
            approver=person,
            role=role,
            decision="approve",
            code=code,
            now=now(),
        )
    completion.complete_promotion(w.gov, request_id=request.id, actor="alice", now=now())
    endpoints.create(w.gov, f"{w.churn}-api", model=w.churn, actor=actor("alice"), now=now())
    with w.gov.store.write() as tx:
        routing.change_in(
            tx,
            f"{w.churn}-api",
            lambda s: routing.updated(
                s, flags=[FlagRule(name="acme", version="1.0.0", org_ids=["acme"])]
            ),
            actor="alice",
            reason="set-up",
            now=now(),
        )
    drifted(w, w.churn, "1.0.0", tmp_path, trained)
    state = retirement_audit_flow(models=[w.churn], return_state=True)
    assert state.message.endswith("1 retire"), state.message
    [review] = _review_runs(w.churn)
    wait_suspended(review.id)
    for person, role in (("carol", "ml_lead"), ("dave", "risk_officer")):
        wait_suspended(review.id)
        decided = promotion_runs.resume_with_decision(
            w.gov,
            str(review.id),
            approver=person,
            role=role,
            decision="approve",
            notes="",
            code=w.codes.code(person),
        )
        assert decided.accepted, decided
    final = wait_final(review.id)
    assert (final.name, final.message.split(",")[0]) == (
        "Deprecated",
        f"{w.churn}@1.0.0 is deprecated",
    )
    assert versions.resolve(w.gov, f"{w.churn}@1.0.0").stage == S.deprecated
    assert endpoints.show(w.gov, f"{w.churn}-api").spec.spec.flags == []


def _review_runs(model: str):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = [
                r
                for r in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(
                        name=DeploymentFilterName(any_=["retirement-review"])
                    )
                )
                if r.parameters.get("model") == model
            ]
            if runs:
                return runs
            time.sleep(0.2)
    raise AssertionError(f"no retirement-review run for {model} within 60 s")


RENDER_THEN_WAIT = """
import time
import numpy as np, pandas as pd
from flows.report_renderer import render, report_process
from governance.ml.drift import dataset_drift
from governance.ml.profile import profile_reference

rng = np.random.default_rng(0)
reference = pd.DataFrame({"x": rng.normal(0, 1, 300), "y": rng.normal(0, 1, 300)})
current = pd.DataFrame({"x": rng.normal(2, 1, 300), "y": rng.normal(0, 1, 300)})
drift = dataset_drift(reference, current, profile_reference(reference), 0.5)
with report_process():
    assert b"<html" in render(reference, current, drift)[:2000].lower()
    print("rendered", flush=True)
    time.sleep(120)  # the audit goes on; it is killed here
"""


def test_the_report_worker_exits_when_its_audit_is_killed():
    """A SIGKILLed audit cannot shut its pool down: the worker must notice and go."""
    process = subprocess.Popen(
        [sys.executable, "-c", RENDER_THEN_WAIT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "rendered"
    workers = children_of(process.pid)
    assert workers, "no report worker process"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    deadline = time.monotonic() + 10
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workers), f"orphaned by the killed audit: {alive(workers)}"
