"""Audit events, their canonical encoding, hash chaining and chain verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def format_ts(ts: datetime) -> str:
    """Render a timestamp as fixed-width UTC ISO-8601 with microseconds, so it sorts as text."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_dumps = json.JSONEncoder(ensure_ascii=False).encode


def canonical_event(
    seq: int,
    event_id: str,
    ts: str,
    event_type: str,
    model: str | None,
    version: str | None,
    actor: str,
    details_json: str,
) -> str:
    """Canonical JSON of one event, keys sorted; `details_json` must already be canonical."""
    # Built by hand rather than json.dumps(dict) so verification of a million events stays fast;
    # the key order here is the sorted order, which keeps this equal to canonical_json(event).
    return (
        f'{{"actor":{_dumps(actor)},"details":{details_json},"event_type":{_dumps(event_type)},'
        f'"id":{_dumps(event_id)},"model":{_dumps(model)},"seq":{seq},"ts":{_dumps(ts)},'
        f'"version":{_dumps(version)}}}'
    )


def chain_hash(prev_hash: str, canonical: str) -> str:
    """sha256(prev_hash + canonical JSON of the event), hex."""
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


class AuditEvent(BaseModel):
    """One recorded state change, chained to the one before it."""

    model_config = ConfigDict(frozen=True)

    seq: int
    id: str
    ts: str
    event_type: str
    model: str | None = None
    version: str | None = None
    actor: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def details_json(self) -> str:
        """The details as canonical JSON, as stored."""
        return canonical_json(self.details)


class ChainReport(BaseModel):
    """The outcome of verifying a run of events."""

    ok: bool
    verified: int
    head_seq: int | None = None
    head_hash: str = GENESIS_HASH
    broken_seq: int | None = None
    reason: str = ""


EventRow = tuple[int, str, str, str, str | None, str | None, str, str, str, str]
"""(seq, id, ts, event_type, model, version, actor, details_json, prev_hash, hash)."""


def verify_rows(
    rows: Iterable[EventRow], start_hash: str = GENESIS_HASH, start_seq: int = 0
) -> ChainReport:
    """Recompute the chain over rows in seq order; name the first event that does not chain."""
    prev_hash, expected_seq, count = start_hash, start_seq + 1, 0
    sha = hashlib.sha256
    for seq, eid, ts, etype, model, version, actor, details, stored_prev, stored_hash in rows:
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order"
            return _broken(count, expected_seq, f"event {expected_seq} is {what} (found {seq})")
        if stored_prev != prev_hash:
            return _broken(count, seq, f"event {seq}: prev_hash does not match event {seq - 1}")
        body = canonical_event(seq, eid, ts, etype, model, version, actor, details)
        if sha((prev_hash + body).encode()).hexdigest() != stored_hash:
            return _broken(count, seq, f"event {seq}: content does not match its hash")
        prev_hash, expected_seq, count = stored_hash, expected_seq + 1, count + 1
    head = expected_seq - 1 if count or start_seq else None
    return ChainReport(ok=True, verified=count, head_seq=head, head_hash=prev_hash)


def _broken(count: int, seq: int, reason: str) -> ChainReport:
    return ChainReport(ok=False, verified=count, broken_seq=seq, reason=reason)


class Checkpoint(BaseModel):
    """The chain head at a moment, exported so that a rewrite of the whole table shows."""

    seq: int
    hash: str
    taken_at: str


def check_checkpoint(checkpoint: Checkpoint, rows_hash_at_seq: str | None) -> str | None:
    """Return why the chain disagrees with an exported checkpoint, or None when it agrees."""
    if rows_hash_at_seq is None:
        return f"checkpoint event {checkpoint.seq} no longer exists"
    if rows_hash_at_seq != checkpoint.hash:
        return (
            f"event {checkpoint.seq} hash differs from the checkpoint taken {checkpoint.taken_at}"
        )
    return None
