"""Registering models and versions, moving stages, aliases, and resolving references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from governance.bootstrap import Governance
from governance.domain.cards import ModelCard, card_hash, require_complete
from governance.domain.errors import (
    DuplicateModel,
    DuplicateVersion,
    ModelNotFound,
    VersionNotFound,
)
from governance.domain.identity import canonical_name
from governance.domain.models import (
    LifecycleStage,
    ModelVersion,
    RegisteredModel,
    check_alias,
    check_name,
    check_payload,
    parse_ref,
    parse_semver,
)
from governance.ml.artifacts import check_model_bytes
from governance.services.registry.artifacts import staged_if_any
from governance.services.registry.cards import bind_card
from governance.services.registry.registered_facts import check_registered_in
from governance.store.cards import CardRevision
from governance.store.unit_of_work import Transaction


class VersionSpec(BaseModel):
    """What an engineer supplies to register a version (the artifact comes separately)."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    created_by: str
    training_data_version: str = ""
    training_pipeline: str = ""
    hyperparameters: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    llm_config: dict[str, Any] | None = None


class VersionView(BaseModel):
    """A version with its model, aliases and current card, for display."""

    model: RegisteredModel
    version: ModelVersion
    aliases: list[str]
    card: CardRevision | None


def register_model(
    gov: Governance, model: RegisteredModel, *, actor: str, now: datetime
) -> RegisteredModel:
    """Register a new model name; DuplicateModel if it exists."""
    check_name(model.name)
    with gov.store.write() as tx:
        if tx.registry.find_model(model.name):
            raise DuplicateModel(f"model {model.name!r} is already registered")
        return _add_model(tx, model, actor, now)


def _add_model(
    tx: Transaction, model: RegisteredModel, actor: str, now: datetime
) -> RegisteredModel:
    saved = tx.registry.add_model(model.model_copy(update={"created_at": now}))
    tx.audit.append(
        "model.registered",
        actor=actor,
        now=now,
        model=model.name,
        details={
            "owner": model.owner,
            "team": model.team,
            "risk_level": model.risk_level.value,
            "kind": model.kind.value,
            "description": model.description,
        },
    )
    return saved


def register_version(
    gov: Governance,
    spec: VersionSpec,
    card: ModelCard,
    *,
    artifact: bytes | None,
    now: datetime,
    new_model: RegisteredModel | None = None,
) -> ModelVersion:
    """Register an immutable version with its artifact and first card revision, in one transaction.

    `new_model` registers the model too when it does not exist yet. Nothing is written
    (database or artifact store) when any check fails.
    """
    parse_semver(spec.version)
    check_name(spec.name)
    spec = spec.model_copy(update={"created_by": canonical_name(spec.created_by)})
    if artifact is not None:
        check_model_bytes(artifact, gov.artifacts.trusted_types)
    with gov.store.write() as tx:
        model = tx.registry.find_model(spec.name)
        if model is None:
            if new_model is None or new_model.name != spec.name:
                raise ModelNotFound(f"unknown model {spec.name!r}")
            model = _add_model(tx, new_model, spec.created_by, now)
        if tx.registry.find_version(spec.name, spec.version):
            raise DuplicateVersion(f"{spec.name}@{spec.version} is already registered")
        check_payload(model, artifact is not None, spec.llm_config)
        card = bind_card(card, model, spec.version)
        require_complete(card, LifecycleStage.development, model.risk_level)
        with staged_if_any(gov.artifacts, artifact) as stored:
            version = tx.registry.add_version(model.id, _new_version(spec, stored, now))
            revision = tx.cards.add(
                version.id, card, card_hash(card), spec.created_by, now, first=True
            )
            tx.audit.append(
                "model.version_registered",
                actor=spec.created_by,
                now=now,
                model=spec.name,
                version=spec.version,
                details={
                    "artifact_digest": version.artifact_digest,
                    "llm_config": spec.llm_config,
                    "card_hash": revision.card_hash,
                    "training_data_version": spec.training_data_version,
                    "training_pipeline": spec.training_pipeline,
                    "hyperparameters": spec.hyperparameters,
                    "metrics": spec.metrics,
                    # Every immutable fact, so the chain, not the row, says what was registered.
                    "created_by": spec.created_by,
                },
            )
        return version


def _new_version(spec: VersionSpec, stored, now: datetime) -> ModelVersion:
    return ModelVersion(
        model_name=spec.name,
        version=spec.version,
        stage=LifecycleStage.development,
        artifact_uri=stored.uri if stored else None,
        artifact_digest=stored.digest if stored else None,
        llm_config=spec.llm_config,
        training_data_version=spec.training_data_version,
        training_pipeline=spec.training_pipeline,
        hyperparameters=spec.hyperparameters,
        metrics=spec.metrics,
        created_by=spec.created_by,
        created_at=now,
        stage_changed_at=now,
    )


def set_alias(
    gov: Governance, name: str, alias: str, version: str, *, actor: str, now: datetime
) -> None:
    """Point `name@alias` at a version."""
    check_alias(alias)
    with gov.store.write() as tx:
        model = tx.registry.get_model(name)
        found = tx.registry.get_version(name, version)
        before = tx.registry.set_alias(model.id, alias, found.id)
        tx.audit.append(
            "model.alias_set",
            actor=actor,
            now=now,
            model=name,
            version=version,
            details={"alias": alias, "previous_version_id": before},
        )


def resolve_in(tx: Transaction, ref: str) -> ModelVersion:
    """Resolve `name`, `name@version`, `name@stage` or `name@alias` to one version."""
    parsed = parse_ref(ref)
    kind = parsed.kind
    if kind == "version":
        return tx.registry.get_version(parsed.name, parsed.selector)
    if kind == "alias":
        found = tx.registry.version_by_alias(parsed.name, parsed.selector)
    else:
        stage = LifecycleStage(parsed.selector) if kind == "stage" else None
        candidates = (
            tx.registry.versions_in_stage(parsed.name, stage)
            if stage
            else tx.registry.search(name=parsed.name)[::-1]
        )
        found = candidates[0] if candidates else None
    if found is None:
        tx.registry.get_model(parsed.name)
        raise VersionNotFound(f"nothing matches {ref!r}")
    return found


def resolve(gov: Governance, ref: str) -> ModelVersion:
    """Resolve a reference in its own read transaction."""
    with gov.store.read() as tx:
        return resolve_in(tx, ref)


def show(gov: Governance, ref: str) -> VersionView:
    """A version with its model, aliases and latest card."""
    with gov.store.read() as tx:
        found = resolve_in(tx, ref)
        return VersionView(
            model=tx.registry.get_model(found.model_name),
            version=found,
            aliases=tx.registry.aliases_of(found.id),
            card=tx.cards.latest(found.id),
        )


def search(gov: Governance, **filters: Any) -> list[ModelVersion]:
    """Versions matching the filters (name, stage, risk_level, owner, team)."""
    with gov.store.read() as tx:
        return tx.registry.search(**filters)


def verify_artifact(gov: Governance, name: str, version: str) -> str:
    """Check a version's facts against its registration in the chain, then that its artifact
    matches its digest and loads; return the loaded type."""
    with gov.store.read() as tx:
        found = resolve_in(tx, f"{name}@{version}")
        check_registered_in(tx, found)
    if found.artifact_digest is None:
        raise VersionNotFound(f"{found.ref} has no artifact (an LLM configuration)")
    return gov.artifacts.verify(found.artifact_digest)
