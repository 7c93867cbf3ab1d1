"""A model's compliance.yaml: registered by a roster person, versioned, its digest in the trail.

The provider-written part of the Annex IV documentation (domain/compliance_document.py).
Each registration is a new revision of the model's document, appended with a
`compliance.document_registered` event carrying its revision and digest; old revisions stay
readable, and the pack cites the revision and digest it used.
"""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.compliance_document import ComplianceDocument, document_digest
from governance.domain.errors import DocumentNotFound, DuplicateContent
from governance.services.trust.roles import roster_person
from governance.store.compliance_documents import DocumentRevision

DOCUMENT_REGISTERED = "compliance.document_registered"


def register_document(
    gov: Governance, name: str, document: ComplianceDocument, *, actor: str, now: datetime
) -> DocumentRevision:
    """Store the next revision of a model's compliance document, audited, in one transaction.

    Refused, with nothing written: NotInRoster for an actor outside the roster (people, not
    scripts, state what the provider declares), ModelNotFound for an unknown model, and
    DuplicateContent for a document identical to the latest revision.
    """
    actor = roster_person(gov.policy, actor)
    digest = document_digest(document)
    with gov.store.write() as tx:
        model = tx.registry.get_model(name)
        latest = tx.compliance_documents.latest(model.id)
        if latest is not None and stored_document_digest(latest) == digest:
            raise DuplicateContent(
                f"{name}'s compliance document is identical to revision {latest.revision}"
                " (digest " + digest[:12] + "): nothing registered"
            )
        revision = tx.compliance_documents.add(model.id, document, digest, actor, now)
        tx.audit.append(
            DOCUMENT_REGISTERED,
            actor=actor,
            now=now,
            model=name,
            version=None,
            details={"revision": revision.revision, "digest": digest},
        )
        return revision


def latest_document(gov: Governance, name: str) -> DocumentRevision | None:
    """The model's newest compliance document, or None; ModelNotFound for an unknown model."""
    with gov.store.read() as tx:
        return tx.compliance_documents.latest(tx.registry.get_model(name).id)


def document_revision(gov: Governance, name: str, revision: int | None = None) -> DocumentRevision:
    """A given revision (the newest when None); DocumentNotFound naming what is missing."""
    with gov.store.read() as tx:
        model_id = tx.registry.get_model(name).id
        if revision is None:
            found = tx.compliance_documents.latest(model_id)
        else:
            found = tx.compliance_documents.revision(model_id, revision)
    if found is None:
        if revision is None:
            raise DocumentNotFound(
                f"{name} has no compliance document: register one with"
                f" `governance compliance document {name} FILE`"
            )
        raise DocumentNotFound(f"{name} has no compliance document revision {revision}")
    return found


def document_revisions(gov: Governance, name: str) -> list[DocumentRevision]:
    """Every revision of a model's compliance document, oldest first."""
    with gov.store.read() as tx:
        return tx.compliance_documents.revisions(tx.registry.get_model(name).id)


def stored_document_digest(revision: DocumentRevision | None) -> str:
    """The digest recomputed from the stored document, not the digest stored beside it."""
    return document_digest(revision.document) if revision else ""
