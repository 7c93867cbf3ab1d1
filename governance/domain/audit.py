"""Audit events: canonical encoding, hash chain, per-event MACs, checkpoints and exports."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from governance.domain.errors import StateMismatch

GENESIS_HASH = "0" * 64
# The keyring purpose whose subkey MACs every event hash (see governance.keyring).
MAC_PURPOSE = "audit-mac"


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def format_ts(ts: datetime) -> str:
    """Render a timestamp as fixed-width UTC ISO-8601 with microseconds, so it sorts as text."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The C string encoder json.dumps(..., ensure_ascii=False) itself uses for a str.
_string = json.encoder.encode_basestring


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
    model_json = "null" if model is None else _string(model)
    version_json = "null" if version is None else _string(version)
    return (
        f'{{"actor":{_string(actor)},"details":{details_json},"event_type":{_string(event_type)},'
        f'"id":{_string(event_id)},"model":{model_json},"seq":{seq},"ts":{_string(ts)},'
        f'"version":{version_json}}}'
    )


def chain_hash(prev_hash: str, canonical: str) -> str:
    """sha256(prev_hash + canonical JSON of the event), hex."""
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def event_mac(key: bytes, event_hash: str) -> str:
    """HMAC-SHA256 hex of an event's hash under the audit MAC subkey."""
    return hmac.new(key, event_hash.encode(), hashlib.sha256).hexdigest()


def authentic(row: EventRow, mac_key: bytes) -> bool:
    """True when a stored event's content hashes to its hash and its MAC is the key's.

    The chain around it is not walked: this proves one event was written by a key holder
    as it reads now, which is what a reader trusting a single event (the gateway) needs.
    """
    seq, eid, ts, etype, model, version, actor, details, prev, digest, mac = row
    body = canonical_event(seq, eid, ts, etype, model, version, actor, details)
    if chain_hash(prev, body) != digest:
        return False
    return hmac.compare_digest(event_mac(mac_key, digest), mac or "")


def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """The sha256 states after HMAC's inner and outer key blocks (RFC 2104), for copying.

    Copying two prepared states per event is a third faster than hmac.digest over a million
    events; tests pin the result to event_mac.
    """
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


class AuditEvent(BaseModel):
    """One recorded state change, chained to the one before it and MACed."""

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
    mac: str | None = None

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
    macs_checked: bool = False


EventRow = tuple[int, str, str, str, str | None, str | None, str, str, str, str, str | None]
"""(seq, id, ts, event_type, model, version, actor, details_json, prev_hash, hash, mac)."""

EventHandler = Callable[[str | None, str | None, str], None]
"""Called with (model, version, details_json) for each verified event of its type."""


def verify_rows(
    rows: Iterable[EventRow],
    *,
    mac_key: bytes | None = None,
    handlers: Mapping[str, EventHandler] | None = None,
    start_hash: str = GENESIS_HASH,
    start_seq: int = 0,
) -> ChainReport:
    """Recompute chain and MACs over rows in seq order; name the first event that fails.

    With `mac_key` every event's MAC must match (a NULL MAC fails); `handlers` see each
    verified event of their type, so a replay shares this single pass over the table.
    """
    prev_hash, expected_seq, count = start_hash, start_seq + 1, 0
    sha, same = hashlib.sha256, hmac.compare_digest
    inner, outer = _hmac_states(mac_key) if mac_key is not None else (None, None)
    handler_for = (handlers or {}).get
    for seq, eid, ts, etype, model, version, actor, details, stored_prev, stored_hash, mac in rows:
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order"
            return _broken(count, expected_seq, f"event {expected_seq} is {what} (found {seq})")
        if stored_prev != prev_hash:
            return _broken(count, seq, f"event {seq}: prev_hash does not match event {seq - 1}")
        body = canonical_event(seq, eid, ts, etype, model, version, actor, details)
        if sha((prev_hash + body).encode()).hexdigest() != stored_hash:
            return _broken(count, seq, f"event {seq}: content does not match its hash")
        if inner is not None:
            step = inner.copy()
            step.update(stored_hash.encode())
            final = outer.copy()
            final.update(step.digest())
            try:
                good = same(final.hexdigest(), mac)
            except TypeError:  # NULL, or non-ASCII text written into the column
                good = False
            if not good:
                return _broken(count, seq, _mac_reason(seq, mac))
        handler = handler_for(etype)
        if handler is not None:
            try:
                handler(model, version, details)
            except (KeyError, TypeError, ValueError) as exc:
                raise StateMismatch(
                    f"event {seq} ({etype}): details cannot be replayed"
                    f" ({type(exc).__name__}: {exc})"
                ) from None
        prev_hash, expected_seq, count = stored_hash, expected_seq + 1, count + 1
    head = expected_seq - 1 if count or start_seq else None
    return ChainReport(
        ok=True,
        verified=count,
        head_seq=head,
        head_hash=prev_hash,
        macs_checked=mac_key is not None,
    )


def _mac_reason(seq: int, mac: str | None) -> str:
    missing = "has no MAC" if not mac else "MAC does not match"
    return f"event {seq}: {missing} (written without the key)"


def _broken(count: int, seq: int, reason: str) -> ChainReport:
    return ChainReport(ok=False, verified=count, broken_seq=seq, reason=reason)


class Checkpoint(BaseModel):
    """The chain head at a moment; seq 0 with the genesis hash is the empty chain.

    `events` is how many events the trail held when it was taken; a checkpoint written
    before counts were recorded has None, and its signed payload leaves the count out.
    """

    model_config = ConfigDict(frozen=True)

    seq: int
    hash: str
    taken_at: str
    events: int | None = None

    def payload(self) -> str:
        """The exact text that is signed: canonical JSON of {events, hash, seq, taken_at}."""
        signed: dict[str, Any] = {"hash": self.hash, "seq": self.seq, "taken_at": self.taken_at}
        if self.events is not None:
            signed["events"] = self.events
        return canonical_json(signed)


class SignedCheckpoint(Checkpoint):
    """A checkpoint with the Ed25519 signature of its payload and the signer's key fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["ed25519"] = "ed25519"
    key_fingerprint: str
    signature: str


def check_checkpoint(
    checkpoint: Checkpoint, rows_hash_at_seq: str | None, events_now: int | None = None
) -> str | None:
    """Return why the chain disagrees with a checkpoint, or None when it agrees.

    `events_now` is how many events the trail holds now: fewer than the checkpoint counted
    means events were deleted. An event at the checkpoint's seq with another hash, on a
    chain whose MACs verify, means events up to it were deleted after the checkpoint and
    new ones appended in their place (or history was rewritten by a key holder).
    """
    taken = checkpoint.taken_at
    if checkpoint.events is not None and events_now is not None and events_now < checkpoint.events:
        return (
            f"the trail holds {events_now} events, fewer than the {checkpoint.events} the"
            f" checkpoint taken {taken} counted: events after event {events_now} were deleted"
        )
    stored = GENESIS_HASH if checkpoint.seq == 0 else rows_hash_at_seq
    if stored is None:
        return f"checkpoint event {checkpoint.seq} no longer exists"
    if stored != checkpoint.hash:
        return (
            f"event {checkpoint.seq} hash differs from the checkpoint taken {taken}: events up"
            f" to event {checkpoint.seq} were deleted after the checkpoint and new ones appended"
            " in their place, or history was rewritten"
        )
    return None


_EXPORT_KEYS = frozenset({"event", "hash", "mac", "prev_hash", "seq"})


def export_line(row: EventRow) -> str:
    """One export line: the exact hashed event text with its seq, prev_hash, hash and MAC."""
    seq, eid, ts, etype, model, version, actor, details, prev, digest, mac = row
    text = canonical_event(seq, eid, ts, etype, model, version, actor, details)
    return canonical_json(
        {"event": text, "hash": digest, "mac": mac, "prev_hash": prev, "seq": seq}
    )


def verify_export(
    lines: Iterable[str], *, mac_key: bytes | None = None, watch: Collection[int] = ()
) -> tuple[ChainReport, dict[int, str]]:
    """Verify exported lines alone; also return the hashes of the `watch`ed seqs.

    Every line must be exactly as `export_line` writes it, so one changed byte anywhere is
    named: in the JSON, the hashed text, a hash or (with the key) a MAC.
    """
    prev_hash, count, heads = GENESIS_HASH, 0, {}
    for number, line in enumerate(lines, start=1):
        expected = count + 1
        try:
            record, event = _parse_export_line(line.rstrip("\n"))
        except ValueError as exc:
            return _broken(count, expected, f"line {number} (event {expected}): {exc}"), heads
        seq = record["seq"]
        if type(seq) is not int or event.get("seq") != seq or seq != expected:
            reason = f"line {number}: seq {seq} where event {expected} belongs"
            return _broken(count, expected, reason), heads
        if record["prev_hash"] != prev_hash:
            reason = f"event {seq}: prev_hash does not match event {seq - 1}"
            return _broken(count, seq, reason), heads
        if chain_hash(prev_hash, record["event"]) != record["hash"]:
            return _broken(count, seq, f"event {seq}: content does not match its hash"), heads
        if mac_key is not None and not _mac_ok(mac_key, record["hash"], record["mac"]):
            return _broken(count, seq, _mac_reason(seq, record["mac"])), heads
        if seq in watch:
            heads[seq] = record["hash"]
        prev_hash, count = record["hash"], count + 1
    report = ChainReport(
        ok=True,
        verified=count,
        head_seq=count or None,
        head_hash=prev_hash,
        macs_checked=mac_key is not None,
    )
    return report, heads


def slice_hashes(lines: Iterable[str]) -> dict[int, str]:
    """Check exported lines of a slice of the chain; return each event's hash by seq.

    A slice skips events, so only what it holds is checked: every line is exactly as
    `export_line` writes it, its text hashes to its hash, seqs rise, and where two events
    are adjacent in the chain the later one's prev_hash is the earlier one's hash. Raises
    ValueError naming the line and event.
    """
    hashes: dict[int, str] = {}
    last: int | None = None
    for number, line in enumerate(lines, start=1):
        try:
            record, event = _parse_export_line(line.rstrip("\n"))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        seq = record["seq"]
        if type(seq) is not int or event.get("seq") != seq or (last is not None and seq <= last):
            raise ValueError(f"line {number}: seq {seq!r} is out of order or unlike its event")
        if chain_hash(record["prev_hash"], record["event"]) != record["hash"]:
            raise ValueError(f"line {number} (event {seq}): content does not match its hash")
        if last == seq - 1 and record["prev_hash"] != hashes[last]:
            raise ValueError(f"line {number} (event {seq}): prev_hash is not event {last}'s hash")
        hashes[seq], last = record["hash"], seq
    return hashes


_NOT_A_RECORD = "not an export record (JSON with event, hash, mac, prev_hash, seq)"


def _parse_export_line(line: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        record = json.loads(line)
        event = json.loads(record["event"]) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError):
        raise ValueError(_NOT_A_RECORD) from None
    if not isinstance(event, dict) or set(record) != _EXPORT_KEYS:
        raise ValueError(_NOT_A_RECORD)
    if canonical_json(record) != line:
        raise ValueError("bytes differ from the record they encode")
    return record, event


def _mac_ok(key: bytes, event_hash: Any, mac: Any) -> bool:
    if not isinstance(event_hash, str) or not isinstance(mac, str):
        return False
    try:
        return hmac.compare_digest(event_mac(key, event_hash), mac)
    except TypeError:  # non-ASCII text in place of a hex MAC
        return False
