"""The registry on real SQLite and PostgreSQL: registration, stages, aliases, refusals."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seeding import seed_stage

from governance.domain.errors import (
    DigestMismatch,
    DuplicateVersion,
    IllegalTransition,
    IncompleteCard,
    InvalidInput,
    InvalidVersion,
    MalformedCard,
    ModelNotFound,
    UntrustedArtifact,
    UseThePromotionDoor,
    VersionNotFound,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, RiskLevel
from governance.services.registry import cards, versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import continuity
from governance.services.trust import audit

S = LifecycleStage


def register(gov, churn_model, card, data, version="1.0.0", now=None, by="alice"):
    spec = VersionSpec(
        name="churn",
        version=version,
        created_by=by,
        training_data_version="d1",
        training_pipeline="train.py",
        metrics={"accuracy": 0.9},
    )
    return versions.register_version(gov, spec, card, artifact=data, now=now, new_model=churn_model)


def snapshot(gov):
    """Everything a refusal must leave untouched."""
    files = (
        sorted(p.name for p in gov.artifacts.root.rglob("*") if p.is_file())
        if gov.artifacts.root.exists()
        else []
    )
    with gov.store.read() as tx:
        return tx.registry.list_models(), tx.registry.search(), tx.audit.query(), files


def test_register_then_promote_and_archive(gov, churn_model, example_card, model_bytes, now):
    first = register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    second = register(gov, churn_model, example_card, model_bytes[1], "1.1.0", now)
    assert first.stage == S.development and first.artifact_digest != second.artifact_digest
    for version in ("1.0.0", "1.1.0"):
        seed_stage(gov, "churn", version, S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    later = now + timedelta(days=1)
    seed_stage(gov, "churn", "1.1.0", S.production, now=later)

    assert versions.resolve(gov, "churn@production").version == "1.1.0"
    old = versions.resolve(gov, "churn@1.0.0")
    assert old.stage == S.deprecated and old.sunset_at == later + timedelta(days=30)
    assert [v.version for v in versions.search(gov, stage=S.production)] == ["1.1.0"]
    history = audit.history(gov, model="churn")
    assert history[0].event_type == "model.registered"
    moves = [
        (e.version, e.details["from"], e.details["to"])
        for e in history
        if e.event_type == "model.stage_changed"
    ]
    assert moves == [
        ("1.0.0", "development", "staging"),
        ("1.1.0", "development", "staging"),
        ("1.0.0", "staging", "production"),
        ("1.0.0", "production", "deprecated"),
        ("1.1.0", "staging", "production"),
    ]
    [archived] = [e for e in history if e.details.get("successor") == "1.1.0"]
    assert archived.details["reason"] == "archived by promotion of 1.1.0"
    assert audit.verify_chain(gov).ok


def test_one_production_version_per_model_is_a_database_rule(
    gov, churn_model, example_card, model_bytes, now
):
    for i, version in enumerate(("1.0.0", "1.1.0")):
        register(gov, churn_model, example_card, model_bytes[i], version, now)
        seed_stage(gov, "churn", version, S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    before = snapshot(gov)
    # A writer that skips the production move (which archives the incumbent) hits the partial
    # unique index uq_model_versions_one_production.
    with pytest.raises(sa.exc.IntegrityError), gov.store.write() as tx:
        second = tx.registry.get_version("churn", "1.1.0")
        tx.registry.set_stage(second.id, S.production, now, None)
    assert snapshot(gov) == before
    assert [v.version for v in versions.search(gov, stage=S.production)] == ["1.0.0"]
    assert audit.verify_chain(gov).ok


def test_rollback_inside_grace_period_only(gov, churn_model, example_card, model_bytes, now):
    for i, version in enumerate(("1.0.0", "1.1.0")):
        register(gov, churn_model, example_card, model_bytes[i], version, now)
        seed_stage(gov, "churn", version, S.staging, now=now)
        seed_stage(gov, "churn", version, S.production, now=now)
    # seed_stage makes the move the rollback command makes after its role check.
    seed_stage(gov, "churn", "1.0.0", S.production, now=now + timedelta(days=2))
    assert versions.resolve(gov, "churn@production").version == "1.0.0"
    replaced = versions.resolve(gov, "churn@1.1.0")
    assert replaced.stage == S.deprecated
    assert replaced.sunset_at == now + timedelta(days=32)
    before = snapshot(gov)
    with pytest.raises(IllegalTransition) as refused:
        seed_stage(gov, "churn", "1.1.0", S.production, now=now + timedelta(days=40))
    assert str(refused.value) == (
        "churn@1.1.0: illegal transition deprecated -> production: "
        "the rollback grace period ended at 2026-12-25 12:00:00+00:00"
    )
    assert snapshot(gov) == before


@pytest.mark.parametrize(
    ("target", "start"),
    [(S.staging, S.development), (S.production, S.staging), (S.production, S.deprecated)],
)
def test_a_direct_move_into_staging_or_production_is_refused(
    gov, churn_model, example_card, model_bytes, now, target, start
):
    for i, version in enumerate(("1.0.0", "1.1.0")):
        register(gov, churn_model, example_card, model_bytes[i], version, now)
    if start != S.development:
        seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    if start == S.deprecated:  # inside its grace period: only the rollback command may
        seed_stage(gov, "churn", "1.0.0", S.production, now=now)
        seed_stage(gov, "churn", "1.1.0", S.staging, now=now)
        seed_stage(gov, "churn", "1.1.0", S.production, now=now)
    assert versions.resolve(gov, "churn@1.0.0").stage == start
    before = snapshot(gov)
    with pytest.raises(UseThePromotionDoor) as refused:
        continuity.transition(
            gov,
            "churn",
            "1.0.0",
            target,
            actor=VerifiedActor(name="carol", method="totp"),
            now=now,
            reason="just do it",
        )
    assert str(refused.value) == (
        f"churn@1.0.0: {target.value} is entered only through promote-model: "
        f"use `governance promote churn 1.0.0 --target {target.value} --dataset NAME`"
    )
    assert snapshot(gov) == before
    assert versions.resolve(gov, "churn@1.0.0").stage == start


def test_production_to_deprecated_needs_a_reason(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    seed_stage(gov, "churn", "1.0.0", S.staging, now=now)
    seed_stage(gov, "churn", "1.0.0", S.production, now=now)
    before = snapshot(gov)
    for reason in ("", "  "):
        with pytest.raises(InvalidInput) as refused:
            continuity.transition(
                gov,
                "churn",
                "1.0.0",
                S.deprecated,
                actor=VerifiedActor(name="carol", method="totp"),
                now=now,
                reason=reason,
            )
        assert str(refused.value) == ("churn@1.0.0: a move to deprecated needs a reason (--reason)")
    assert snapshot(gov) == before

    later = now + timedelta(hours=1)
    moved = continuity.transition(
        gov,
        "churn",
        "1.0.0",
        S.deprecated,
        actor=VerifiedActor(name="carol", method="totp"),
        now=later,
        reason="data drift",
    )
    assert moved.stage == S.deprecated and moved.sunset_at == later + timedelta(days=30)
    assert versions.resolve(gov, "churn@1.0.0").sunset_at == later + timedelta(days=30)
    assert versions.search(gov, stage=S.production) == []
    last = audit.history(gov, model="churn")[-1]
    assert (last.event_type, last.actor, last.details) == (
        "model.stage_changed",
        "carol",
        {
            "from": "production",
            "to": "deprecated",
            "reason": "data drift",
            "sunset_at": (later + timedelta(days=30)).isoformat(),
        },
    )
    assert audit.verify_chain(gov).ok


def test_retire_from_development_needs_no_reason(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    retired = continuity.transition(
        gov, "churn", "1.0.0", S.retired, actor=VerifiedActor(name="carol", method="totp"), now=now
    )
    assert retired.stage == S.retired and retired.sunset_at is None
    assert versions.resolve(gov, "churn@1.0.0").stage == S.retired
    assert audit.history(gov, model="churn")[-1].details == {
        "from": "development",
        "to": "retired",
        "reason": "",
    }


def test_aliases_and_references(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    register(gov, churn_model, example_card, model_bytes[1], "1.2.0", now)
    versions.set_alias(gov, "churn", "champion", "1.0.0", actor="alice", now=now)
    assert versions.resolve(gov, "churn@champion").version == "1.0.0"
    assert versions.resolve(gov, "churn").version == "1.2.0"
    assert versions.resolve(gov, "churn@development").version == "1.2.0"
    view = versions.show(gov, "churn@champion")
    assert view.aliases == ["champion"] and view.card.card.name == "churn"
    with pytest.raises(VersionNotFound) as no_version:
        versions.resolve(gov, "churn@production")
    assert str(no_version.value) == "nothing matches 'churn@production'"
    with pytest.raises(ModelNotFound) as no_model:
        versions.resolve(gov, "nosuch@production")
    assert str(no_model.value) == "unknown model 'nosuch'"


def test_card_revisions_keep_history(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    edited = example_card.model_copy(update={"known_limitations": ["new limitation"]})
    revision = cards.revise_card(gov, "churn", "1.0.0", edited, actor="alice", now=now)
    revisions = cards.card_revisions(gov, "churn", "1.0.0")
    assert [r.revision for r in revisions] == [1, 2] and revision.revision == 2
    assert revisions[0].card.known_limitations != revisions[1].card.known_limitations
    assert revisions[0].card_hash != revisions[1].card_hash


def test_artifact_verifies_and_tamper_is_refused(gov, churn_model, example_card, model_bytes, now):
    version = register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    assert versions.verify_artifact(gov, "churn", "1.0.0").endswith("Pipeline")
    path = gov.artifacts.path_for(version.artifact_digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(gov)
    with pytest.raises(DigestMismatch) as refused:
        versions.verify_artifact(gov, "churn", "1.0.0")
    found = hashlib.sha256(bytes(data)).hexdigest()
    assert str(refused.value) == (
        f"artifact at {path} changed: expected sha256 {version.artifact_digest}, found {found}"
    )
    assert snapshot(gov) == before


# The exact message of each refusal below: each names what was wrong.
REFUSALS = {
    "bad_semver": "invalid semantic version '1.0': expected MAJOR.MINOR.PATCH",
    "duplicate": "churn@1.0.0 is already registered",
    "unknown_model": "unknown model 'ghost'",
    "door": (
        "churn@1.0.0: production is entered only through promote-model: "
        "use `governance promote churn 1.0.0 --target production --dataset NAME`"
    ),
    "illegal": "churn@1.0.0: illegal transition development -> deprecated",
    "risk_mismatch": (
        "card risk_level low differs from churn's high: state high in the card, "
        "or change the model's risk with `governance models risk`"
    ),
    "incomplete": "model card incomplete for development at high risk: missing intended_use",
    "pickle": (
        "not a skops file: it looks like a pickle, and pickles are never loaded; "
        "save the model with skops.io.dump"
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_change_nothing(case, gov, churn_model, example_card, model_bytes, now):
    import pickle

    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    before = snapshot(gov)
    spec = VersionSpec(name="churn", version="2.0.0", created_by="alice")
    calls = {
        "bad_semver": (
            InvalidVersion,
            lambda: register(gov, churn_model, example_card, model_bytes[1], "1.0", now),
        ),
        "duplicate": (
            DuplicateVersion,
            lambda: register(gov, churn_model, example_card, model_bytes[1], "1.0.0", now),
        ),
        "unknown_model": (
            ModelNotFound,
            lambda: versions.register_version(
                gov,
                spec.model_copy(update={"name": "ghost"}),
                example_card,
                artifact=model_bytes[1],
                now=now,
            ),
        ),
        "door": (
            UseThePromotionDoor,
            lambda: continuity.transition(
                gov,
                "churn",
                "1.0.0",
                S.production,
                actor=VerifiedActor(name="b", method="totp"),
                now=now,
            ),
        ),
        "illegal": (
            IllegalTransition,
            lambda: continuity.transition(
                gov,
                "churn",
                "1.0.0",
                S.deprecated,
                actor=VerifiedActor(name="b", method="totp"),
                now=now,
                reason="r",
            ),
        ),
        "risk_mismatch": (
            MalformedCard,
            lambda: versions.register_version(
                gov,
                spec,
                example_card.model_copy(update={"risk_level": RiskLevel.low}),
                artifact=model_bytes[1],
                now=now,
            ),
        ),
        "incomplete": (
            IncompleteCard,
            lambda: versions.register_version(
                gov,
                spec,
                example_card.model_copy(update={"intended_use": ""}),
                artifact=model_bytes[1],
                now=now,
            ),
        ),
        "pickle": (
            UntrustedArtifact,
            lambda: versions.register_version(
                gov, spec, example_card, artifact=pickle.dumps({"a": 1}), now=now
            ),
        ),
    }
    error, call = calls[case]
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    assert str(info.value) == REFUSALS[case]
    assert snapshot(gov) == before
    assert audit.verify_chain(gov).ok


def test_illegal_transition_names_both_stages(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    continuity.transition(
        gov, "churn", "1.0.0", S.retired, actor=VerifiedActor(name="bob", method="totp"), now=now
    )
    before = snapshot(gov)
    with pytest.raises(IllegalTransition) as refused:
        continuity.transition(
            gov,
            "churn",
            "1.0.0",
            S.deprecated,
            actor=VerifiedActor(name="bob", method="totp"),
            now=now,
            reason="tidy up",
        )
    assert type(refused.value) is IllegalTransition
    assert str(refused.value) == "churn@1.0.0: illegal transition retired -> deprecated"
    assert snapshot(gov) == before


def test_llm_versions_carry_a_config_not_an_artifact(gov, example_card, model_bytes, now):
    from governance.domain.models import ModelKind, RegisteredModel

    llm = RegisteredModel(
        name="support-bot",
        owner="alice",
        team="cx",
        kind=ModelKind.llm,
        risk_level=RiskLevel.medium,
    )
    card = example_card.model_copy(update={"risk_level": RiskLevel.medium})
    config = {"base_model": "llama-3.1-8b-instruct", "provider": "vllm", "temperature": 0.2}
    spec = VersionSpec(name="support-bot", version="1.0.0", created_by="alice", llm_config=config)
    saved = versions.register_version(gov, spec, card, artifact=None, now=now, new_model=llm)
    assert saved.artifact_digest is None and saved.llm_config == config
    assert versions.resolve(gov, "support-bot@1.0.0").llm_config["provider"] == "vllm"
    before = snapshot(gov)
    bad = spec.model_copy(update={"version": "1.1.0", "llm_config": {"provider": "vllm"}})
    with pytest.raises(InvalidInput) as no_base:
        versions.register_version(gov, bad, card, artifact=None, now=now)
    assert str(no_base.value) == "LLM config for support-bot lacks base_model"
    with pytest.raises(InvalidInput) as with_artifact:
        versions.register_version(
            gov,
            spec.model_copy(update={"version": "1.2.0"}),
            card,
            artifact=model_bytes[0],
            now=now,
        )
    assert str(with_artifact.value) == (
        "support-bot is an LLM model: register an LLM config, no artifact"
    )
    assert snapshot(gov) == before
