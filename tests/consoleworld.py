"""The console's test world: a seeded governance on a real database, and how it is read.

churn 1.0.0 served by endpoint churn-api, then 1.1.0 evaluated against it, approved by carol,
dave and erin and promoted (routing follows: spec 2), with a past canary and A/B test; 1.2.0
in development with a card holding markup; a low-risk model of bob's; a prompt with two
versions; a retirement audit with its Evidently report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import EXAMPLE_CARD, Codes
from promptkit import candidate, in_production
from seeding import approved_request, make_settings, register_holdout, seed_stage

from governance.bootstrap import Governance, open_governance
from governance.domain.experiments import Experiment
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
from governance.domain.monitoring import Check, Finding, Status
from governance.domain.rollout import Rollout, RolloutStatus
from governance.keyring import create_secret_key
from governance.reports.card_yaml import load_card_yaml
from governance.services.monitoring.retirement_audit import _record, store_report
from governance.services.promotion import completion, evaluation
from governance.services.registry import versions
from governance.services.registry.cards import revise_card
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints
from governance.services.trust import identity
from governance.signing import generate_keypair
from governance.store.schema import upgrade

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DASH = "\N{EN DASH}"  # what a table shows for no figure
CARD_SCRIPT = "<script>alert('card')</script> is shown as text"
PROMPT_SCRIPT = "<script>alert('prompt')</script>\n"
REPORT = b"<html><body><script>document.title='drift'</script><p>drift report</p></body></html>"


def seed(gov, tmp, model_bytes, secrets) -> tuple:
    """Seed the world; the evaluation run of 1.1.0 and the id of its approved request."""
    codes = Codes(secrets, T0)
    card = load_card_yaml(EXAMPLE_CARD.read_text())
    churn = RegisteredModel(
        name="churn", owner="alice", team="analytics", risk_level=RiskLevel.high
    )
    for version, data in zip(("1.0.0", "1.1.0", "1.2.0"), model_bytes, strict=True):
        spec = VersionSpec(
            name="churn",
            version=version,
            created_by="alice",
            training_pipeline="pipelines/churn.py",
            training_data_version=f"snapshot-{version}",
        )
        versions.register_version(gov, spec, card, artifact=data, now=T0, new_model=churn)
    for version in ("1.0.0", "1.1.0"):
        seed_stage(gov, "churn", version, LifecycleStage.staging, now=T0)
    seed_stage(gov, "churn", "1.0.0", LifecycleStage.production, now=T0)
    carol = VerifiedActor(name="carol", method="totp")
    endpoints.create(gov, "churn-api", model="churn", actor=carol, now=T0 + timedelta(minutes=1))
    register_holdout(gov, tmp, T0)
    run = evaluation.evaluate(
        gov,
        model="churn",
        version="1.1.0",
        dataset="holdout",
        actor="alice",
        now=T0 + timedelta(minutes=2),
    )
    decided = T0 + timedelta(minutes=3)
    request = approved_request(gov, codes, decided, version="1.1.0", evaluation_run_id=run.id)
    completion.complete_promotion(
        gov, request_id=request.id, actor="bob", now=T0 + timedelta(minutes=4)
    )
    versions.set_alias(gov, "churn", "champion", "1.1.0", actor="alice", now=T0)
    marked = card.model_copy(update={"known_limitations": [CARD_SCRIPT]})
    revise_card(gov, "churn", "1.2.0", marked, actor="alice", now=T0 + timedelta(minutes=5))
    fraud = RegisteredModel(
        name="fraud", owner="bob", team="risk", risk_level=RiskLevel.low, kind=ModelKind.sklearn
    )
    spec = VersionSpec(name="fraud", version="0.1.0", created_by="bob")
    low = card.model_copy(update={"risk_level": RiskLevel.low})
    versions.register_version(gov, spec, low, artifact=model_bytes[0], now=T0, new_model=fraud)
    in_production(gov, T0 + timedelta(hours=1))
    candidate(
        gov,
        T0 + timedelta(hours=2),
        template="You support {{ product }}.\nQuestion: {{ question }}\n" + PROMPT_SCRIPT,
    )
    with gov.store.read() as tx:
        old = tx.registry.get_version("churn", "1.0.0")
    finding = Finding(
        check=Check.drift, status=Status.breached, message="3 of 30 columns drifted", hard=True
    )
    _record(
        gov,
        old,
        "audit-1",
        "retire",
        "drift breached",
        "1.1.0",
        [finding],
        store_report(gov, REPORT),
        T0 + timedelta(days=1),
    )
    _past_rollout_and_experiment(gov, request.id)
    generate_keypair(gov.settings.resolved_signing_key_file)
    return run, request.id


def _past_rollout_and_experiment(gov, request_id: str) -> None:
    """A canary of 1.1.0 that passed two steps, and an ended A/B test (rows as recorded)."""
    at = T0 + timedelta(minutes=4)
    rollout = Rollout(
        id="r-1",
        endpoint="churn-api",
        model_name="churn",
        version="1.1.0",
        strategy="canary",
        request_id=request_id,
        flow_run_id="f-1",
        steps=[10, 100],
        bake_seconds=600,
        step_index=1,
        step_started_at=at,
        status=RolloutStatus.completed,
        heartbeat_at=at,
        verdicts=[{"weight": 10, "verdict": "pass"}, {"weight": 100, "verdict": "pass"}],
    )
    experiment = Experiment(
        id="x-1",
        endpoint="churn-api",
        variants={"a": "1.0.0", "b": "1.1.0"},
        weights={"a": 50, "b": 50},
        until_samples=1000,
        until_at=None,
        status="finished",
        started_by="carol",
        started_at=at,
        ended_at=at + timedelta(hours=1),
        flow_run_id=None,
        result={"verdict": "b wins on accuracy", "winner": "b", "valid": True},
    )
    with gov.store.write() as tx:
        tx.routing.insert_rollout(rollout, at)
        tx.experiments.insert(experiment)


@contextmanager
def seeded(database_url: str, tmp: Path, model_bytes) -> Iterator[tuple[Governance, dict, tuple]]:
    """A governance on `database_url`, everyone enrolled, the world seeded: (gov, secrets, seed)."""
    settings = make_settings(tmp, database_url)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    try:
        secrets = {
            name: identity.enroll(gov, name, actor="test-setup", now=T0 - timedelta(days=1)).secret
            for name in sorted(gov.policy.roster, key=lambda n: "admin" in gov.policy.roster[n])
        }
        yield gov, secrets, seed(gov, tmp, model_bytes, secrets)
    finally:
        gov.close()
