"""ab-test: watch a running A/B experiment until its stopping rule, then analyse and end it.

The CLI starts the experiment as the verified person (governance.services.rollout.experiments) and
submits this flow with the experiment id; the flow only watches and reports. It is safe to
run again after a kill: it finds the experiment, takes over watching it and continues, and
an experiment that already ended is reported from its stored result (finishing is a no-op).
Ends Concluded (a winner, or "no winner: <why>"), Invalid (sample ratio mismatch), Stopped
(a lead stopped it) or PreconditionFailed. Ending an experiment promotes nothing: the
winner goes through promote-model.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed, Failed, State

from governance.bootstrap import Governance, open_governance
from governance.domain.errors import GovernanceError, InvalidInput, NotFound
from governance.domain.experiments import Experiment
from governance.reports.ab_report import store_report
from governance.services.rollout import experiments

DEPLOYMENT = "ab-test/ab-test"


def _now() -> datetime:
    return datetime.now(UTC)


def _key(*parts: str) -> str:
    """Prefect artifact keys allow only lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


@task(name="analyse-and-finish", cache_policy=NO_CACHE)
def analyse_and_finish(gov: Governance, found: Experiment) -> Experiment:
    """Analyse the experiment's window, store the HTML report, and end the experiment."""
    now = _now()
    result = experiments.analysis(gov, found.id, now).to_json()
    report = store_report(gov.artifacts, found, result)
    result["report"] = {"digest": report.digest, "uri": report.uri}
    # If another run finished it first, finish returns that run's result unchanged.
    return experiments.finish(gov, found.id, result, now)


def table_rows(result: dict) -> list[dict]:
    """Per-variant metrics, each test against the control and the SRM check, as one table."""
    rows = []
    for v in result["variants"]:
        label = f"{v['name']} ({v['version']})"
        rows.append(_row("metric", label, "n", v["n"], note=f"{v['labelled']} labelled"))
        if v["accuracy"] is not None:
            rows.append(_row("metric", label, "accuracy", v["accuracy"]))
        for metric, mean in v["means"].items():
            rows.append(_row("metric", label, f"{metric} (mean)", mean))
    for c in result["comparisons"]:
        ci = f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]" if c["ci_low"] is not None else ""
        rows.append(
            _row(
                "test",
                f"{c['variant']} vs {c['control']}",
                c["metric"],
                c["difference"],
                ci=ci,
                p=c["p_value"],
                note=f"{c['test']}, {'significant' if c['significant'] else 'not significant'}",
            )
        )
    srm = result.get("srm")
    if srm:
        for name, seen in srm["observed"].items():
            rows.append(
                _row(
                    "srm",
                    name,
                    "assignments",
                    seen,
                    p=srm["p_value"],
                    note=f"expected {srm['expected'][name]:.1f}; "
                    + ("MISMATCH" if srm["failed"] else "as configured"),
                )
            )
    return rows


def _row(kind: str, who: str, metric: str, value, ci: str = "", p=None, note: str = "") -> dict:
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return {
        "kind": kind,
        "variant": who,
        "metric": metric,
        "value": shown,
        "ci": ci,
        "p": "" if p is None else f"{p:.3g}",
        "note": note,
    }


def publish(gov: Governance, found: Experiment) -> None:
    """The result table and a link to the stored HTML report, keyed by the experiment."""
    result = found.result or {}
    create_table_artifact(
        table_rows(result),
        key=_key("ab-test", found.id),
        description=f"A/B test {found.id} on {found.endpoint}: {result.get('verdict')}",
    )
    report = result.get("report")
    if report:
        create_link_artifact(
            link=gov.artifacts.path_for(report["digest"]).resolve().as_uri(),
            link_text=f"A/B report {report['uri']}",
            key=_key("ab-report", found.id),
            description=f"HTML report of A/B test {found.id} (content-addressed {report['uri']})",
        )


def ended_state(found: Experiment) -> State:
    """The run's final state from the experiment's stored end."""
    result = found.result or {}
    verdict = str(result.get("verdict", found.status))
    if found.status == "stopped":
        return Completed(name="Stopped", message=verdict)
    if result.get("valid") is False:
        return Failed(name="Invalid", message=verdict)
    return Completed(name="Concluded", message=verdict)


def _watch(gov: Governance, experiment_id: str, run_id: str, poll_seconds: float) -> Experiment:
    """Poll until the stopping rule is met (or someone ended the experiment); the row."""
    log = get_run_logger()
    experiments.watch(gov, experiment_id, run_id, _now())
    while True:
        now = _now()
        status = experiments.status(gov, experiment_id, now)
        if not status.experiment.running or status.due(now):
            return status.experiment
        log.info("experiment %s: %s outcomes so far", experiment_id, status.outcomes)
        time.sleep(poll_seconds)


@flow(name="ab-test", persist_result=True)
def ab_test(
    experiment_id: str,
    endpoint: str = "",
    variants: dict[str, str] | None = None,
    split: dict[str, int] | None = None,
    until_samples: int | None = None,
    until_at: datetime | None = None,
    poll_seconds: float = 30,
) -> State:
    """Watch the experiment until its sample target or end time, then analyse and end it.

    endpoint, variants, split and the stopping rule describe the experiment in the UI; the
    stored experiment is what counts, and a run whose description differs is refused.
    """
    gov = open_governance()
    try:
        found = experiments.get(gov, experiment_id)
        described = {
            "endpoint": (endpoint, found.endpoint),
            "variants": (variants, found.variants),
            "split": (split, found.weights),
            "until_samples": (until_samples, found.until_samples),
            "until_at": (until_at, found.until_at),
        }
        for name, (given, stored) in described.items():
            if given not in (None, "") and given != stored:
                raise InvalidInput(
                    f"experiment {experiment_id} has {name} {stored!r}, the run says {given!r}"
                )
        if found.running:
            run_id = str(FlowRunContext.get().flow_run.id)
            found = _watch(gov, experiment_id, run_id, poll_seconds)
            if found.running:
                found = analyse_and_finish(gov, found)
        publish(gov, found)
        state = ended_state(found)
        get_run_logger().info("experiment %s: %s", experiment_id, state.message)
        return state
    except GovernanceError as exc:
        return Failed(name="PreconditionFailed", message=str(exc))
    finally:
        gov.close()


def submit(experiment: Experiment, poll_seconds: float = 30) -> FlowRun:
    """Create the ab-test run that watches a started experiment (the CLI's backend)."""
    parameters = {
        "experiment_id": experiment.id,
        "endpoint": experiment.endpoint,
        "variants": experiment.variants,
        "split": experiment.weights,
        "until_samples": experiment.until_samples,
        "until_at": experiment.until_at,
        "poll_seconds": poll_seconds,
    }
    try:
        return run_deployment(DEPLOYMENT, parameters=parameters, timeout=0)
    except ObjectNotFound:
        raise NotFound(_missing()) from None


def require_deployment() -> None:
    """Refuse before anything changes when no server serves the ab-test deployment."""
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(DEPLOYMENT)
        except ObjectNotFound:
            raise NotFound(_missing()) from None


def _missing() -> str:
    return f"deployment {DEPLOYMENT} not found on the Prefect server: start it with `make up`"
