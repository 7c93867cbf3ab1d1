"""Card revisions: each edit is a new revision, bound to the registry's identity and risk."""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.cards import ModelCard, card_hash, require_complete, with_identity
from governance.domain.errors import (
    MalformedCard,
)
from governance.domain.models import (
    RegisteredModel,
    RiskLevel,
)
from governance.store.cards import CardRevision


def bind_card(card: ModelCard, model: RegisteredModel, version: str) -> ModelCard:
    """The card with the registry's identity and risk; MalformedCard if it states another risk."""
    # The registry, not the YAML, is the source of truth for identity and risk; a card that
    # states another risk level is the wrong card (or a risk change that needs its own act).
    if card.risk_level and RiskLevel(card.risk_level) != model.risk_level:
        raise MalformedCard(
            f"card risk_level {RiskLevel(card.risk_level).value} differs from {model.name}'s "
            f"{model.risk_level.value}: state {model.risk_level.value} in the card, or change "
            "the model's risk with `governance models risk`"
        )
    return with_identity(
        card,
        name=model.name,
        version=version,
        model_id=f"{model.name}@{version}",
        owner=model.owner,
        team=model.team,
        risk_level=model.risk_level,
    )


def revise_card(
    gov: Governance, name: str, version: str, card: ModelCard, *, actor: str, now: datetime
) -> CardRevision:
    """Store a new card revision; it must stay complete for the version's current stage."""
    with gov.store.write() as tx:
        model = tx.registry.get_model(name)
        found = tx.registry.get_version(name, version)
        card = bind_card(card, model, version)
        require_complete(card, found.stage, model.risk_level, model.kind)
        revision = tx.cards.add(found.id, card, card_hash(card), actor, now)
        tx.audit.append(
            "model.card_revised",
            actor=actor,
            now=now,
            model=name,
            version=version,
            details={"revision": revision.revision, "card_hash": revision.card_hash},
        )
        return revision


def card_revisions(gov: Governance, name: str, version: str) -> list[CardRevision]:
    """Every revision of a version's card, oldest first."""
    with gov.store.read() as tx:
        return tx.cards.revisions(tx.registry.get_version(name, version).id)


def stored_card_hash(card: CardRevision | None) -> str:
    """The card hash recomputed from the stored card, not the hash stored beside it."""
    return card_hash(card.card) if card else ""
