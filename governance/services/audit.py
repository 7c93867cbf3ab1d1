"""Verifying, querying and exporting the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.audit import (
    AuditEvent,
    ChainReport,
    Checkpoint,
    check_checkpoint,
    format_ts,
    verify_rows,
)
from governance.domain.errors import ChainBroken
from governance.store.audit_log import iter_rows, to_event


def verify_chain(gov: Governance, checkpoints: list[Checkpoint] = ()) -> ChainReport:
    """Recompute the whole chain, then check it against exported checkpoints."""
    with gov.store.read() as tx:
        report = verify_rows(iter_rows(tx.conn))
        if not report.ok:
            return report
        for checkpoint in checkpoints:
            reason = check_checkpoint(checkpoint, tx.audit.hash_at(checkpoint.seq))
            if reason:
                return report.model_copy(
                    update={"ok": False, "broken_seq": checkpoint.seq, "reason": reason}
                )
    return report


def require_intact(gov: Governance) -> ChainReport:
    """Verify the chain and raise ChainBroken naming the first bad event."""
    report = verify_chain(gov)
    if not report.ok:
        raise ChainBroken(f"audit chain broken at event {report.broken_seq}: {report.reason}")
    return report


def checkpoint(gov: Governance, now: datetime) -> Checkpoint:
    """The current chain head, to keep outside the database."""
    report = require_intact(gov)
    return Checkpoint(seq=report.head_seq or 0, hash=report.head_hash, taken_at=format_ts(now))


def history(
    gov: Governance,
    *,
    model: str | None = None,
    version: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """Events for a subject, type and time range, in chain order."""
    with gov.store.read() as tx:
        if model is not None:
            tx.registry.get_model(model)
        return tx.audit.query(
            model=model, version=version, event_type=event_type, since=since, until=until
        )


def export_jsonl(gov: Governance) -> Iterator[str]:
    """Every event as one JSON line, in chain order, with its hashes."""
    with gov.store.read() as tx:
        for row in iter_rows(tx.conn):
            yield json.dumps(to_event(tuple(row)).model_dump(), sort_keys=True, ensure_ascii=False)
