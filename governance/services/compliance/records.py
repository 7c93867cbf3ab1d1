"""The records a version's technical documentation is built from, read in one snapshot.

Every read is by index: the version's events by (model, version), the model's own events by
(model, NULL), policy and enrolment events by type, the chain links by primary key. No read
scans the whole trail, so a pack costs the same in a trail of a thousand events or a million.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.bootstrap import Governance
from governance.domain.audit import AuditEvent, EventRow
from governance.domain.models import ModelVersion, RegisteredModel
from governance.domain.policy import Policy
from governance.domain.rollout import Endpoint, SpecVersion
from governance.store.audit_log import event_count, head_seq, snapshot, to_event, typed_rows
from governance.store.audit_slices import hashes_at, subject_slice
from governance.store.cards import CardRevision
from governance.store.compliance_documents import DocumentRevision
from governance.store.evaluation import EvaluationRun
from governance.store.unit_of_work import Transaction

# Events outside the version's slice that its statements cite: which policy was in force,
# and how each approver's identity was established and their roles changed.
CONTEXT_TYPES = (
    "policy.loaded",
    "person.enrolled",
    "person.role_granted",
    "person.role_revoked",
)


@dataclass(frozen=True)
class ServedBy:
    """An endpoint of the model with its routing history."""

    endpoint: Endpoint
    specs: list[SpecVersion]


@dataclass
class VersionRecords:
    """Everything a pack states about one version, as read from the store."""

    model: RegisteredModel
    version: ModelVersion
    versions: list[ModelVersion]
    cards: list[CardRevision]
    document: DocumentRevision | None
    rows: list[EventRow]
    context_rows: list[EventRow]
    links: dict[int, str | None]
    evaluations: list[EvaluationRun]
    endpoints: list[ServedBy]
    policy: Policy
    chain_events: int
    chain_head_seq: int
    chain_head_hash: str
    events: list[AuditEvent] = field(default_factory=list)
    context: list[AuditEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = [to_event(row) for row in self.rows]
        self.context = [to_event(row) for row in self.context_rows]

    def of_type(self, *types: str) -> list[AuditEvent]:
        """The slice's events of some types, in chain order."""
        return [event for event in self.events if event.event_type in types]

    def context_of(self, event_type: str) -> list[AuditEvent]:
        """The cited context events of one type, in chain order."""
        return [event for event in self.context if event.event_type == event_type]


def read_records(
    gov: Governance, name: str, version: str, *, count_events: bool = True
) -> VersionRecords:
    """Read a version's records in one snapshot; NotFound names an unknown model or version.

    `count_events=False` leaves `chain_events` at 0: counting a trail of millions is a scan a
    page that does not show the count should not pay for.
    """
    with snapshot(gov.engine) as conn:
        tx = Transaction(conn, gov.keyring)
        model = tx.registry.get_model(name)
        found = tx.registry.get_version(name, version)
        rows = subject_slice(conn, name, version)
        context = typed_rows(conn, CONTEXT_TYPES)
        head = head_seq(conn)
        links = hashes_at(conn, sorted({row[0] - 1 for row in rows + context} | {head}))
        return VersionRecords(
            model=model,
            version=found,
            versions=tx.registry.search(name=name),
            cards=tx.cards.revisions(found.id),
            document=tx.compliance_documents.latest(model.id),
            rows=rows,
            context_rows=context,
            links=links,
            evaluations=tx.evaluation.runs_of(name, version),
            endpoints=[
                ServedBy(endpoint, tx.routing.history(endpoint.name))
                for endpoint in tx.routing.endpoints(name)
            ],
            policy=gov.policy,
            chain_events=event_count(conn) if count_events else 0,
            chain_head_seq=head,
            chain_head_hash=links.get(head) or "",
        )
