"""One transaction per service call, with the repositories bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from governance.keyring import Keyring
from governance.store.approvals import ApprovalRepository
from governance.store.audit_log import CHAIN_LOCK_KEY, AuditLog
from governance.store.cards import CardRepository
from governance.store.client_keys import ClientKeyRepository
from governance.store.compliance_documents import ComplianceDocumentRepository
from governance.store.engine import WRITE_OPTION
from governance.store.evaluation import EvaluationRepository
from governance.store.experiments import ExperimentRepository
from governance.store.monitoring import MonitoringRepository
from governance.store.people import PeopleRepository
from governance.store.predictions import PredictionRepository
from governance.store.prompts import PromptRepository
from governance.store.registry import RegistryRepository
from governance.store.routing import RoutingRepository


@dataclass
class Transaction:
    """The repositories of one open transaction."""

    conn: Connection
    keyring: Keyring | None = None
    identity_note: Callable[[], str | None] | None = None
    prelude: Callable[[AuditLog, datetime], None] | None = None
    registry: RegistryRepository = field(init=False)
    cards: CardRepository = field(init=False)
    audit: AuditLog = field(init=False)
    evaluation: EvaluationRepository = field(init=False)
    approvals: ApprovalRepository = field(init=False)
    people: PeopleRepository = field(init=False)
    routing: RoutingRepository = field(init=False)
    predictions: PredictionRepository = field(init=False)
    experiments: ExperimentRepository = field(init=False)
    monitoring: MonitoringRepository = field(init=False)
    prompts: PromptRepository = field(init=False)
    client_keys: ClientKeyRepository = field(init=False)
    compliance_documents: ComplianceDocumentRepository = field(init=False)
    # Writes that must outlive this transaction even when it rolls back (a wrong code's
    # record): each runs after it ends, in a write transaction of its own.
    deferred: list[Callable[[Transaction], None]] = field(init=False, default_factory=list)

    def defer(self, write: Callable[[Transaction], None]) -> None:
        """Run `write` in its own write transaction once this one has ended, however it ends."""
        self.deferred.append(write)

    def __post_init__(self) -> None:
        self.registry = RegistryRepository(self.conn)
        self.cards = CardRepository(self.conn)
        self.audit = AuditLog(self.conn, self.keyring, self.identity_note, self.prelude)
        self.evaluation = EvaluationRepository(self.conn)
        self.approvals = ApprovalRepository(self.conn)
        self.people = PeopleRepository(self.conn)
        self.routing = RoutingRepository(self.conn)
        self.predictions = PredictionRepository(self.conn)
        self.experiments = ExperimentRepository(self.conn)
        self.monitoring = MonitoringRepository(self.conn)
        self.prompts = PromptRepository(self.conn)
        self.client_keys = ClientKeyRepository(self.conn)
        self.compliance_documents = ComplianceDocumentRepository(self.conn)


class Store:
    """Opens read and write transactions on the governance database."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring | None = None,
        identity_note: Callable[[], str | None] | None = None,
        prelude: Callable[[AuditLog, datetime], None] | None = None,
    ) -> None:
        self.engine = engine
        # The audit log MACs every event it appends with a key from here (read lazily).
        self.keyring = keyring
        self.identity_note = identity_note
        # Called before a write transaction's first event: what the trail must hold first.
        self.prelude = prelude
        self.is_postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction that holds the audit chain lock from its first statement."""
        tx: Transaction | None = None
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    if self.is_postgres:
                        # Taken first so that every writer queues in one order: no deadlocks,
                        # and the chain head read by the appender cannot move until commit.
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})")
                    tx = Transaction(conn, self.keyring, self.identity_note, self.prelude)
                    yield tx
        finally:
            # After the chain lock is released: a second writer inside it would wait forever.
            for write in tx.deferred if tx is not None else ():
                with self.write() as later:
                    write(later)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield Transaction(conn, self.keyring, self.identity_note)
