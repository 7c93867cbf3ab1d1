"""Repository for model card revisions: every edit is a new revision, old ones stay readable."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.cards import ModelCard
from governance.store.tables_registry import model_cards

c = model_cards.c
_LATEST_REVISION = sa.select(sa.func.max(c.revision)).where(
    c.version_id == sa.bindparam("version_id")
)
_INSERT = model_cards.insert()


class CardRevision(BaseModel):
    """One stored revision of a version's card."""

    model_config = ConfigDict(frozen=True)

    revision: int
    card: ModelCard
    card_hash: str
    created_by: str
    created_at: datetime


def _revision(row) -> CardRevision:
    return CardRevision(
        revision=row.revision,
        card=ModelCard.model_validate(row.card),
        card_hash=row.card_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class CardRepository:
    """Reads and appends card revisions on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        version_id: int,
        card: ModelCard,
        card_hash: str,
        created_by: str,
        now: datetime,
        *,
        first: bool = False,
    ) -> CardRevision:
        """Store the next revision of a version's card (`first` for a version just inserted)."""
        latest = (
            0 if first else self.conn.execute(_LATEST_REVISION, {"version_id": version_id}).scalar()
        )
        revision = (latest or 0) + 1
        row = {
            "version_id": version_id,
            "revision": revision,
            "card": card.model_dump(mode="json"),
            "card_hash": card_hash,
            "created_by": created_by,
            "created_at": now,
        }
        self.conn.execute(_INSERT, row)
        return CardRevision(
            revision=revision, card=card, card_hash=card_hash, created_by=created_by, created_at=now
        )

    def latest(self, version_id: int) -> CardRevision | None:
        """The newest revision, or None if the version has no card."""
        row = self.conn.execute(
            sa.select(model_cards)
            .where(c.version_id == version_id)
            .order_by(c.revision.desc())
            .limit(1)
        ).first()
        return _revision(row) if row else None

    def revision(self, version_id: int, revision: int) -> CardRevision | None:
        """A given revision, or None."""
        row = self.conn.execute(
            sa.select(model_cards).where(c.version_id == version_id, c.revision == revision)
        ).first()
        return _revision(row) if row else None

    def revisions(self, version_id: int) -> list[CardRevision]:
        """All revisions, oldest first."""
        rows = self.conn.execute(
            sa.select(model_cards).where(c.version_id == version_id).order_by(c.revision)
        )
        return [_revision(r) for r in rows]
