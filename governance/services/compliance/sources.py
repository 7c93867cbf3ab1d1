"""Citations: the Source of each kind of record a pack statement comes from."""

from __future__ import annotations

from governance.domain.audit import AuditEvent
from governance.domain.compliance_document import document_digest
from governance.domain.compliance_pack import Draft, Source
from governance.domain.rollout import SpecVersion
from governance.services.compliance.records import VersionRecords
from governance.services.registry.cards import stored_card_hash
from governance.store.cards import CardRevision
from governance.store.compliance_documents import DocumentRevision
from governance.store.evaluation import EvaluationRun, contents_digest


def event(found: AuditEvent) -> Source:
    """An audit event by its sequence number and hash."""
    return Source(
        kind="event", ref=f"#{found.seq} {found.event_type}", digest=found.hash, seq=found.seq
    )


def card(name: str, version: str, revision: CardRevision) -> Source:
    """A card revision, by the hash recomputed from the stored card."""
    return Source(
        kind="card_revision",
        ref=f"{name}@{version} revision {revision.revision}",
        digest=stored_card_hash(revision),
    )


def evaluation(run: EvaluationRun) -> Source:
    """An evaluation run, by the digest of its stored contents."""
    return Source(kind="evaluation_run", ref=run.id, digest=contents_digest(run))


def request(request_id: str, evidence_digest: str | None) -> Source:
    """An approval request, by the evidence digest its approvals are bound to."""
    return Source(kind="approval_request", ref=request_id, digest=evidence_digest)


def spec(found: SpecVersion) -> Source:
    """A routing spec version of an endpoint, by its content hash."""
    return Source(
        kind="routing_spec",
        ref=f"{found.endpoint} spec {found.number}",
        digest=found.spec.digest(),
    )


def retirement_audit(audit_id: str, findings_digest: str | None) -> Source:
    """A retirement audit of the version, by the digest of its findings."""
    return Source(kind="retirement_audit", ref=audit_id, digest=findings_digest)


def document(name: str, revision: DocumentRevision) -> Source:
    """The provider's compliance document revision, by the digest recomputed from it."""
    return Source(
        kind="compliance_document",
        ref=f"{name} revision {revision.revision}",
        digest=document_digest(revision.document),
    )


def policy(version: str) -> Source:
    """A policy version (the sha256 of its normalised content)."""
    return Source(kind="policy", ref=version[:12], digest=version)


def provided(
    draft: Draft,
    name: str,
    revision: DocumentRevision | None,
    value: object,
    label: str,
    field: str,
) -> bool:
    """State a provider-written field, citing the document, or name it as a gap."""
    present = draft.need(f"{label[0].lower()}{label[1:]} (compliance.yaml: {field})", bool(value))
    if present and revision is not None:
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        draft.say(f"{label}: {shown}").cite(document(name, revision))
    return present


def document_field(records: VersionRecords, field: str) -> object:
    """A field of the model's latest compliance document, or None without one."""
    document = records.document.document if records.document else None
    return getattr(document, field) if document else None


def provided_field(draft: Draft, records: VersionRecords, field: str, label: str) -> bool:
    """State a field of the model's compliance document, or name it as a gap."""
    value = document_field(records, field)
    return provided(draft, records.model.name, records.document, value, label, field)


def short(digest: str | None, length: int = 12) -> str:
    """A digest cut for a table cell."""
    return digest[:length] if digest else ""
