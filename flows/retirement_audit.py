"""retirement-audit (nightly, 02:00 UTC): every production version and every version serving
traffic is checked for age, accuracy, drift, a stale card, no traffic and open break-glass
reviews, and gets a verdict: retain, re-validate or retire.

The checks fan out one task per model on the configured task runner (threads, or Dask).
Each version's verdict is recorded once per run with its audit event, so a run killed
half-way and run again checks only what it had not recorded. A `retire` verdict starts a
retirement-review run, which waits for the policy's approvers.
"""

from __future__ import annotations

import contextlib
import re
import threading
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.states import Completed, Failed, State

from flows import clock
from flows.report_renderer import renderer, report_process
from flows.task_runners import describe, task_runner_for
from governance.bootstrap import Governance, open_governance
from governance.config import load_settings
from governance.domain.errors import ConfigError, GovernanceError
from governance.domain.monitoring import AuditRow
from governance.services.monitoring import retirement_audit, retirement_review

REVIEW_DEPLOYMENT = "retirement-review/retirement-review"
_OPEN: dict[str, Governance] = {}
_LOCK = threading.Lock()


def _governance() -> Governance:
    """One Governance per process and configuration: thread and Dask workers share it."""
    settings = load_settings()
    key = settings.model_dump_json()
    with _LOCK:
        if key not in _OPEN:
            _OPEN[key] = open_governance(settings)
        return _OPEN[key]


def close_cached() -> None:
    """Close the Governance instances this process opened for the audit."""
    with _LOCK:
        while _OPEN:
            _OPEN.popitem()[1].close()


@task(name="audit-model", cache_policy=NO_CACHE)
def audit_model(model: str, versions: list[str], audit_run: str, now: datetime) -> list[dict]:
    """Audit every listed version of one model; a version that fails is a finding, not a crash."""
    gov = _governance()
    rows = []
    for version in versions:
        try:
            row, _ = retirement_audit.audit_version(
                gov, model, version, audit_run=audit_run, now=now, render=renderer()
            )
        except Exception as exc:  # one broken version must not stop the audit of the others
            row = retirement_audit.record_failure(
                gov, model, version, audit_run=audit_run, exc=exc, now=now
            )
        rows.append(row.model_dump(mode="json"))
    return rows


@flow(name="retirement-audit-fan-out")
def fan_out(targets: dict[str, list[str]], audit_run: str, now: datetime) -> list[dict]:
    """One audit-model task per model on this flow's task runner."""
    futures = [audit_model.submit(m, v, audit_run, now) for m, v in targets.items()]
    return [row for future in futures for row in future.result()]


@flow(name="retirement-audit")
def retirement_audit_flow(models: list[str] | None = None) -> State:
    """Check every serving version, write the findings, and ask for reviews of retire verdicts.

    It audits as of flows.clock: the real clock, which no run parameter can move.
    """
    now = clock.now()
    run_id = str(FlowRunContext.get().flow_run.id)
    try:
        gov = _governance()
        runner = task_runner_for(gov.settings)
        targets = retirement_audit.audit_targets(gov, models)
    except ConfigError as exc:
        return Failed(name="BadConfiguration", message=str(exc))
    except GovernanceError as exc:
        return Failed(name="PreconditionFailed", message=str(exc))
    get_run_logger().info("fan-out on %s", describe(runner))
    # On threads, a large audit's drift reports render in a process of their own; a small
    # one renders inline rather than wait seconds for the worker (Dask workers render inline).
    versions = sum(len(v) for v in targets.values())
    worker = (
        gov.settings.task_runner == "threads"
        and versions >= gov.settings.report_worker_min_versions
    )
    with report_process() if worker else contextlib.nullcontext():
        audited = fan_out.with_options(task_runner=runner)(targets, run_id, now)
    rows = [AuditRow.model_validate(r) for r in audited]
    _artifacts(gov, rows)
    reviews = _start_reviews(rows, run_id)
    counts = {v: sum(r.verdict == v for r in rows) for v in ("retain", "re-validate", "retire")}
    summary = f"{len(rows)} versions checked: " + ", ".join(f"{n} {v}" for v, n in counts.items())
    get_run_logger().info("%s; %d reviews started", summary, len(reviews))
    return Completed(name="Audited", message=summary, data={"rows": len(rows), **counts})


def _artifacts(gov: Governance, rows: list[AuditRow]) -> None:
    """The findings table, and a link to each drifting version's Evidently report."""
    if not rows:
        return
    create_table_artifact(
        [_table_row(r) for r in rows],
        key="retirement-findings",
        description="retirement audit: one row per version checked",
    )
    for row in rows:
        if row.report_digest:
            path = retirement_audit.report_path(gov, row.report_digest)
            create_link_artifact(
                link=path.resolve().as_uri(),
                link_text=f"Evidently drift report: {row.model_name}@{row.version}",
                key=_key(f"drift-report-{row.model_name}-{row.version}"),
                description=row.reason,
            )


def _table_row(row: AuditRow) -> dict[str, Any]:
    findings = {f["check"]: f for f in row.findings}
    cells = {check: f"{f['status']}: {f['message']}" for check, f in findings.items()}
    return {
        "model": row.model_name,
        "version": row.version,
        "verdict": row.verdict,
        "reason": row.reason,
        **cells,
    }


def _key(text: str) -> str:
    """An artifact key: Prefect allows lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def _start_reviews(rows: list[AuditRow], audit_run: str) -> list[str]:
    """Start one retirement-review run per retire verdict (once, even if this run is retried)."""
    started = []
    under_review = retirement_review.open_reviews_by_version(_governance())
    for row in rows:
        if row.verdict != "retire" or (row.model_name, row.version) in under_review:
            continue  # an earlier night's review is still waiting for its approvers
        try:
            run = run_deployment(
                REVIEW_DEPLOYMENT,
                parameters={"model": row.model_name, "version": row.version, "audit_id": row.id},
                timeout=0,
                idempotency_key=f"{audit_run}:{row.model_name}@{row.version}",
                as_subflow=False,
            )
        except Exception as exc:  # the verdict stays recorded, and the next audit tries again
            get_run_logger().warning(
                "retirement review of %s@%s not started: %r", row.model_name, row.version, exc
            )
            continue
        started.append(str(run.id))
    return started
