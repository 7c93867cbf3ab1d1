"""ab-test served for real: an experiment with a small sample target concludes with a winner.

Predictions and outcomes go straight into the prediction log through PredictionRepository,
as the gateway would write them, so the test does not depend on the gateway.
"""

from __future__ import annotations

import json
import uuid

import pytest
from flowkit import actor, now, wait_final
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from seeding import seed_stage

from flows import ab_test
from governance.domain.models import LifecycleStage, RiskLevel
from governance.services.promotion import approval_requests, completion, decisions, evaluation
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints, experiments
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only


def promoted_to_staging(w, example_card, trained, version, blob, approver):
    """Register `version` and carry it through a staging promotion (gate and approval)."""
    card = example_card.model_copy(update={"risk_level": RiskLevel.medium})
    spec = VersionSpec(name=w.churn, version=version, created_by="alice")
    versions.register_version(w.gov, spec, card, artifact=trained[blob], now=now())
    run = evaluation.evaluate(
        w.gov, model=w.churn, version=version, dataset="holdout", actor="alice", now=now()
    )
    request = approval_requests.open_approval(
        w.gov,
        model=w.churn,
        version=version,
        target=LifecycleStage.staging,
        requester=actor("alice"),
        evaluation_run_id=run.id,
        now=now(),
    )
    decisions.decide(
        w.gov,
        request_id=request.id,
        approver=approver,
        role="ml_engineer",
        decision="approve",
        code=w.codes.code(approver),
        now=now(),
    )
    completion.complete_promotion(w.gov, request_id=request.id, actor="alice", now=now())


def log(w, endpoint, variant, version, n, right):
    """n predictions of one variant with outcomes: `right` correct, revenue 1.0 each."""
    with w.gov.store.write() as tx:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        at = now()
        tx.predictions.insert_many(
            {
                "id": pid,
                "endpoint": endpoint,
                "version": version,
                "variant": variant,
                "bucket": i,
                "features": {"x": i},
                "output": [1 if i < right else 0],
                "latency_ms": 4.0,
                "status": "ok",
                "created_at": at,
            }
            for i, pid in enumerate(ids)
        )
        for i, pid in enumerate(ids):
            tx.predictions.record_outcome(pid, 1, {"revenue": float(i % 3)}, at)


def artifacts(key: str):
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )


def started(w, example_card, trained, *, until_samples: int):
    """1.3.0 (A) and 1.4.0 (B) through staging, then production (1.4.0 first, so it is
    archived: still approved for production, as an A/B arm must be), an endpoint, and a
    50/50 experiment on it."""
    promoted_to_staging(w, example_card, trained, "1.3.0", "good1.0", "bob")
    promoted_to_staging(w, example_card, trained, "1.4.0", "good0.5", "jack")
    for version in ("1.4.0", "1.3.0"):
        seed_stage(w.gov, w.churn, version, LifecycleStage.production, now=now())
    endpoint = f"{w.churn}-api"
    endpoints.create(w.gov, endpoint, model=w.churn, actor=actor("alice"), now=now())
    found = experiments.start(
        w.gov,
        endpoint,
        {"A": "1.3.0", "B": "1.4.0"},
        {"A": 50, "B": 50},
        until_samples=until_samples,
        until_at=None,
        actor=actor("carol"),
        now=now(),
    )
    return endpoint, found


def test_an_experiment_concludes_with_the_right_winner(world, example_card, trained):
    w = world
    endpoint, found = started(w, example_card, trained, until_samples=400)
    run = ab_test.submit(found, poll_seconds=0.5)
    # Logged while the flow watches: it must wait for all 400 outcomes, then conclude.
    log(w, endpoint, "A", "1.3.0", 200, 140)
    log(w, endpoint, "stable", "1.0.0", 50, 50)  # traffic outside the experiment
    log(w, endpoint, "B", "1.4.0", 200, 180)
    state = wait_final(run.id, timeout=120)

    assert (state.name, state.type.value) == ("Concluded", "COMPLETED")
    assert state.message.startswith("winner B: accuracy B 0.9000 vs A 0.7000 (+0.2000, CI [")
    ended = experiments.get(w.gov, found.id)
    assert (ended.status, ended.result["winner"], ended.flow_run_id) == ("ended", "B", str(run.id))
    assert [v["n"] for v in ended.result["variants"]] == [200, 200]
    assert ended.result["srm"]["failed"] is False
    assert endpoints.show(w.gov, endpoint).spec.spec.ab is None
    # Nothing was promoted by the experiment: the winner is still the archived version.
    assert versions.resolve(w.gov, f"{w.churn}@1.4.0").stage == LifecycleStage.deprecated
    [event] = audit.history(w.gov, event_type="experiment.ended", model=w.churn)
    assert (event.details["winner"], event.details["experiment"]) == ("B", found.id)

    report = ended.result["report"]
    page = w.gov.artifacts.read_verified(report["digest"]).decode()
    assert state.message in page and "<script src" not in page
    [table] = artifacts(f"ab-test-{found.id}")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    tested = [r for r in rows if r["kind"] == "test" and r["metric"] == "accuracy"]
    assert [(r["variant"], r["value"]) for r in tested] == [("B vs A", "0.2000")]
    assert {r["kind"] for r in rows} == {"metric", "test", "srm"}
    [link] = artifacts(f"ab-report-{found.id}")
    # Prefect keeps a link artifact as markdown: [text](file:///.../sha256/ab/<digest>).
    assert link.type == "markdown" and f"{report['digest']})" in link.data

    # A second run on the same experiment (as after a kill) reports the same end, changes nothing.
    again = wait_final(ab_test.submit(ended, poll_seconds=0.5).id, timeout=120)
    assert (again.name, again.message) == ("Concluded", state.message)
    assert len(audit.history(w.gov, event_type="experiment.ended", model=w.churn)) == 1


def test_a_sample_ratio_mismatch_ends_invalid_with_no_winner(world, example_card, trained):
    w = world
    endpoint, found = started(w, example_card, trained, until_samples=450)
    # B looks far better, but a 50/50 split delivered 300/150: the assignment is broken.
    log(w, endpoint, "A", "1.3.0", 300, 150)
    log(w, endpoint, "B", "1.4.0", 150, 140)
    state = wait_final(ab_test.submit(found, poll_seconds=0.5).id, timeout=120)
    assert (state.name, state.type.value) == ("Invalid", "FAILED")
    assert state.message.startswith(
        "no winner: sample ratio mismatch: observed {'A': 300, 'B': 150} against the split "
        "{'A': 50, 'B': 50}"
    )
    ended = experiments.get(w.gov, found.id)
    assert (ended.status, ended.result["winner"], ended.result["valid"]) == ("ended", None, False)
    assert endpoints.show(w.gov, endpoint).spec.spec.ab is None
    [srm] = [r for r in rows_of(found.id) if r["kind"] == "srm" and r["variant"] == "A"]
    assert srm["note"] == "expected 225.0; MISMATCH"


def rows_of(experiment_id):
    [table] = artifacts(f"ab-test-{experiment_id}")
    return json.loads(table.data) if isinstance(table.data, str) else table.data
