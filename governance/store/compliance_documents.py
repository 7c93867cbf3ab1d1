"""Repository for a model's compliance documents: every registration is a new revision."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.domain.compliance_document import (
    ComplianceDocument,
    InvalidComplianceDocument,
    parse_compliance_document,
)
from governance.domain.errors import StateMismatch
from governance.store.tables_registry import compliance_documents

c = compliance_documents.c
_LATEST_REVISION = sa.select(sa.func.max(c.revision)).where(c.model_id == sa.bindparam("model_id"))
_INSERT = compliance_documents.insert()


class DocumentRevision(BaseModel):
    """One stored revision of a model's compliance.yaml."""

    model_config = ConfigDict(frozen=True)

    revision: int
    document: ComplianceDocument
    digest: str
    created_by: str
    created_at: datetime


def stored_document(document: ComplianceDocument) -> dict:
    """The JSON stored for a document: the canonical form its digest is computed over."""
    return document.model_dump(mode="json", exclude_defaults=True)


def _revision(row) -> DocumentRevision:
    try:
        document = parse_compliance_document(row.document)
    except InvalidComplianceDocument as exc:
        # Only a writer behind the services' back stores a document that does not validate.
        raise StateMismatch(
            f"compliance_documents revision {row.revision} no longer validates: {exc}"
        ) from None
    return DocumentRevision(
        revision=row.revision,
        document=document,
        digest=row.digest,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class ComplianceDocumentRepository:
    """Reads and appends compliance-document revisions on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        model_id: int,
        document: ComplianceDocument,
        digest: str,
        created_by: str,
        now: datetime,
    ) -> DocumentRevision:
        """Store the next revision of a model's document (numbered from 1)."""
        latest = self.conn.execute(_LATEST_REVISION, {"model_id": model_id}).scalar()
        revision = (latest or 0) + 1
        row = {
            "model_id": model_id,
            "revision": revision,
            "document": stored_document(document),
            "digest": digest,
            "created_by": created_by,
            "created_at": now,
        }
        self.conn.execute(_INSERT, row)
        return DocumentRevision(
            revision=revision,
            document=document,
            digest=digest,
            created_by=created_by,
            created_at=now,
        )

    def latest(self, model_id: int) -> DocumentRevision | None:
        """The newest revision, or None if the model has no document."""
        row = self.conn.execute(
            sa.select(compliance_documents)
            .where(c.model_id == model_id)
            .order_by(c.revision.desc())
            .limit(1)
        ).first()
        return _revision(row) if row else None

    def revision(self, model_id: int, revision: int) -> DocumentRevision | None:
        """A given revision, or None."""
        row = self.conn.execute(
            sa.select(compliance_documents).where(c.model_id == model_id, c.revision == revision)
        ).first()
        return _revision(row) if row else None

    def revisions(self, model_id: int) -> list[DocumentRevision]:
        """All revisions, oldest first."""
        rows = self.conn.execute(
            sa.select(compliance_documents).where(c.model_id == model_id).order_by(c.revision)
        )
        return [_revision(r) for r in rows]
