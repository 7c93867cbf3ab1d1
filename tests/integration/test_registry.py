"""The registry on real SQLite and PostgreSQL: registration, stages, aliases, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from governance.domain.errors import (
    DuplicateVersion,
    IllegalTransition,
    IncompleteCard,
    InvalidVersion,
    ModelNotFound,
    UntrustedArtifact,
    VersionNotFound,
)
from governance.domain.models import LifecycleStage
from governance.services import audit, registry
from governance.services.registry import VersionSpec

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
    return registry.register_version(gov, spec, card, artifact=data, now=now, new_model=churn_model)


def snapshot(gov):
    """Everything a refusal must leave untouched."""
    files = (
        sorted(p.name for p in gov.artifacts.root.rglob("*") if p.is_file())
        if gov.artifacts.root.exists()
        else []
    )
    with gov.store.read() as tx:
        return tx.registry.search(), tx.audit.query(), files


def test_register_then_promote_and_archive(gov, churn_model, example_card, model_bytes, now):
    first = register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    second = register(gov, churn_model, example_card, model_bytes[1], "1.1.0", now)
    assert first.stage == S.development and first.artifact_digest != second.artifact_digest
    for version in ("1.0.0", "1.1.0"):
        registry.transition(gov, "churn", version, S.staging, actor="bob", now=now)
    registry.transition(gov, "churn", "1.0.0", S.production, actor="bob", now=now)
    later = now + timedelta(days=1)
    registry.transition(gov, "churn", "1.1.0", S.production, actor="bob", now=later)

    assert registry.resolve(gov, "churn@production").version == "1.1.0"
    old = registry.resolve(gov, "churn@1.0.0")
    assert old.stage == S.deprecated and old.sunset_at == later + timedelta(days=30)
    assert [v.version for v in registry.search(gov, stage=S.production)] == ["1.1.0"]
    types = [e.event_type for e in audit.history(gov, model="churn")]
    assert types.count("model.stage_changed") == 5 and types[0] == "model.registered"
    assert audit.verify_chain(gov).ok


def test_rollback_inside_grace_period_only(gov, churn_model, example_card, model_bytes, now):
    for i, version in enumerate(("1.0.0", "1.1.0")):
        register(gov, churn_model, example_card, model_bytes[i], version, now)
        registry.transition(gov, "churn", version, S.staging, actor="bob", now=now)
        registry.transition(gov, "churn", version, S.production, actor="bob", now=now)
    registry.transition(
        gov, "churn", "1.0.0", S.production, actor="bob", now=now + timedelta(days=2)
    )
    assert registry.resolve(gov, "churn@production").version == "1.0.0"
    with pytest.raises(IllegalTransition, match="grace period"):
        registry.transition(
            gov, "churn", "1.1.0", S.production, actor="bob", now=now + timedelta(days=40)
        )


def test_aliases_and_references(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    register(gov, churn_model, example_card, model_bytes[1], "1.2.0", now)
    registry.set_alias(gov, "churn", "champion", "1.0.0", actor="alice", now=now)
    assert registry.resolve(gov, "churn@champion").version == "1.0.0"
    assert registry.resolve(gov, "churn").version == "1.2.0"
    assert registry.resolve(gov, "churn@development").version == "1.2.0"
    view = registry.show(gov, "churn@champion")
    assert view.aliases == ["champion"] and view.card.card.name == "churn"
    with pytest.raises(VersionNotFound):
        registry.resolve(gov, "churn@production")
    with pytest.raises(ModelNotFound):
        registry.resolve(gov, "nosuch@production")


def test_card_revisions_keep_history(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    edited = example_card.model_copy(update={"known_limitations": ["new limitation"]})
    revision = registry.revise_card(gov, "churn", "1.0.0", edited, actor="alice", now=now)
    revisions = registry.card_revisions(gov, "churn", "1.0.0")
    assert [r.revision for r in revisions] == [1, 2] and revision.revision == 2
    assert revisions[0].card.known_limitations != revisions[1].card.known_limitations
    assert revisions[0].card_hash != revisions[1].card_hash


def test_artifact_verifies_and_tamper_is_refused(gov, churn_model, example_card, model_bytes, now):
    version = register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    assert registry.verify_artifact(gov, "churn", "1.0.0").endswith("Pipeline")
    path = gov.artifacts.path_for(version.artifact_digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    from governance.domain.errors import DigestMismatch

    with pytest.raises(DigestMismatch, match=version.artifact_digest):
        registry.verify_artifact(gov, "churn", "1.0.0")


# The exact message of each refusal below: each names what was wrong.
REFUSALS = {
    "bad_semver": "invalid semantic version '1.0': expected MAJOR.MINOR.PATCH",
    "duplicate": "churn@1.0.0 is already registered",
    "unknown_model": "unknown model 'ghost'",
    "illegal": (
        "churn@1.0.0: production is entered only through promote-model: "
        "use `governance promote churn 1.0.0 --target production --dataset NAME`"
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
            lambda: registry.register_version(
                gov,
                spec.model_copy(update={"name": "ghost"}),
                example_card,
                artifact=model_bytes[1],
                now=now,
            ),
        ),
        "illegal": (
            IllegalTransition,
            lambda: registry.transition(gov, "churn", "1.0.0", S.production, actor="b", now=now),
        ),
        "incomplete": (
            IncompleteCard,
            lambda: (
                registry.transition(gov, "churn", "1.0.0", S.staging, actor="b", now=now)
                if False
                else registry.register_version(
                    gov,
                    spec,
                    example_card.model_copy(update={"intended_use": ""}),
                    artifact=model_bytes[1],
                    now=now,
                )
            ),
        ),
        "pickle": (
            UntrustedArtifact,
            lambda: registry.register_version(
                gov, spec, example_card, artifact=pickle.dumps({"a": 1}), now=now
            ),
        ),
    }
    error, call = calls[case]
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == REFUSALS[case]
    assert snapshot(gov) == before
    assert audit.verify_chain(gov).ok


def test_illegal_transition_names_both_stages(gov, churn_model, example_card, model_bytes, now):
    register(gov, churn_model, example_card, model_bytes[0], "1.0.0", now)
    with pytest.raises(IllegalTransition, match="development -> production"):
        registry.transition(gov, "churn", "1.0.0", S.production, actor="bob", now=now)


def test_llm_versions_carry_a_config_not_an_artifact(gov, example_card, model_bytes, now):
    from governance.domain.errors import InvalidInput
    from governance.domain.models import ModelKind, RegisteredModel, RiskLevel

    llm = RegisteredModel(
        name="support-bot",
        owner="alice",
        team="cx",
        kind=ModelKind.llm,
        risk_level=RiskLevel.medium,
    )
    config = {"base_model": "llama-3.1-8b-instruct", "provider": "vllm", "temperature": 0.2}
    spec = VersionSpec(name="support-bot", version="1.0.0", created_by="alice", llm_config=config)
    saved = registry.register_version(
        gov, spec, example_card, artifact=None, now=now, new_model=llm
    )
    assert saved.artifact_digest is None and saved.llm_config == config
    assert registry.resolve(gov, "support-bot@1.0.0").llm_config["provider"] == "vllm"
    before = snapshot(gov)
    bad = spec.model_copy(update={"version": "1.1.0", "llm_config": {"provider": "vllm"}})
    with pytest.raises(InvalidInput, match="lacks base_model"):
        registry.register_version(gov, bad, example_card, artifact=None, now=now)
    with pytest.raises(InvalidInput, match="LLM model"):
        registry.register_version(
            gov,
            spec.model_copy(update={"version": "1.2.0"}),
            example_card,
            artifact=model_bytes[0],
            now=now,
        )
    assert snapshot(gov) == before
