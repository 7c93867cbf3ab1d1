"""Verifying the audit trail (chain, MACs, signed checkpoints, state); anchoring, exporting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path

from pydantic import BaseModel

from governance.bootstrap import Governance
from governance.config import Settings
from governance.domain.audit import (
    GENESIS_HASH,
    MAC_PURPOSE,
    AuditEvent,
    ChainReport,
    Checkpoint,
    SignedCheckpoint,
    check_checkpoint,
    export_line,
    format_ts,
    verify_export,
    verify_rows,
)
from governance.domain.errors import ChainBroken, InvalidInput, StateMismatch
from governance.domain.identity import NOT_VERIFIED
from governance.domain.policy_history import IdentitySpan, identity_spans
from governance.domain.reconciliation import GovernedState, Replay, require_match
from governance.domain.spec_seals import SPEC_MAC_PURPOSE, spec_row_problems
from governance.keyring import Keyring
from governance.signing import (
    Signer,
    Verifier,
    newest_anchor,
    public_key_path,
    read_anchor_dir,
    read_checkpoint,
    write_anchor,
)
from governance.store.audit_log import (
    event_count,
    hash_at,
    head_seq,
    iter_rows,
    marked_events,
    snapshot,
)
from governance.store.reconciliation import read_state

Anchored = tuple[Path, SignedCheckpoint]
"""A signed checkpoint and the file it was read from."""


class TrailReport(BaseModel):
    """What a verification checked and found intact."""

    chain: ChainReport
    state_rows: int | None = None  # None: the state tables were not compared
    checkpoints: int = 0
    newest_anchor: SignedCheckpoint | None = None
    events_after_anchor: int | None = None
    key_file: Path | None = None  # an export's MACs were checked with this secret key file
    # Every span of the trail written while the policy said `identity: none`.
    identity_off: list[IdentitySpan] = []


def head(gov: Governance) -> int:
    """The newest event's seq: any act, by any process, moves it."""
    with gov.engine.connect() as conn:
        return head_seq(conn)


def verify_chain(gov: Governance) -> ChainReport:
    """Recompute the chain and every event's MAC; report the first failure rather than raise."""
    with snapshot(gov.engine) as conn:
        return verify_rows(iter_rows(conn), mac_key=gov.keyring.derive(MAC_PURPOSE))


def verify(
    gov: Governance,
    anchors: Sequence[Anchored] = (),
    *,
    public_key: Path | None = None,
    reconcile: bool = True,
) -> TrailReport:
    """Check signatures, chain, MACs, anchored heads and (by default) the state tables.

    Raises SignatureInvalid naming the file, ChainBroken naming the event, or StateMismatch
    naming the row; all reads share one snapshot.
    """
    _check_signatures(gov.settings, anchors, public_key)
    replay = Replay()
    handlers = replay.handlers if reconcile else None
    with snapshot(gov.engine) as conn:
        mac_key = gov.keyring.derive(MAC_PURPOSE)
        chain = _intact(verify_rows(iter_rows(conn), mac_key=mac_key, handlers=handlers))
        # Newest first: the checkpoint nearest the head names a cut tail most precisely.
        for source, checkpoint in sorted(anchors, key=_age, reverse=True):
            reason = check_checkpoint(checkpoint, hash_at(conn, checkpoint.seq), chain.verified)
            if reason:
                raise ChainBroken(f"audit chain disagrees with checkpoint {source}: {reason}")
        rows = _reconcile(gov.keyring, replay, read_state(conn)) if reconcile else None
        # Read after the chain passed: the notes are as MACed, not as a writer would have them.
        spans = identity_spans(marked_events(conn, "identity", NOT_VERIFIED))
    return _report(chain, anchors, state_rows=rows, identity_off=spans)


def _reconcile(keyring: Keyring, replay: Replay, actual: GovernedState) -> int:
    """Compare the tables with the events, then check every spec's hash column and seal."""
    rows = require_match(replay.state, actual)
    found = list(
        islice(
            spec_row_problems(
                actual.spec_rows,
                lambda message, mac: keyring.check_mac(SPEC_MAC_PURPOSE, message, mac),
            ),
            6,
        )
    )
    if found:
        more = " (and more)" if len(found) > 5 else ""
        raise StateMismatch("; ".join(found[:5]) + more)
    return rows


def _check_signatures(settings: Settings, anchors: Sequence[Anchored], public_key: Path | None):
    if not anchors:
        return
    key = public_key or public_key_path(settings.resolved_signing_key_file)
    verifier = Verifier.from_file(key)
    for source, checkpoint in anchors:
        verifier.check(checkpoint, source)


def _intact(report: ChainReport) -> ChainReport:
    if not report.ok:
        raise ChainBroken(f"audit chain broken at event {report.broken_seq}: {report.reason}")
    return report


def _age(anchored: Anchored) -> tuple[int, str]:
    return anchored[1].seq, anchored[1].taken_at


def _newest(anchors: Sequence[Anchored]) -> Anchored | None:
    return max(anchors, key=_age, default=None)


def _report(chain: ChainReport, anchors: Sequence[Anchored], **extra) -> TrailReport:
    newest = _newest(anchors)
    return TrailReport(
        chain=chain,
        checkpoints=len(anchors),
        newest_anchor=newest[1] if newest else None,
        events_after_anchor=(chain.head_seq or 0) - newest[1].seq if newest else None,
        **extra,
    )


def load_checkpoints(files: Sequence[Path] = (), directory: Path | None = None) -> list[Anchored]:
    """Signed checkpoints from files and from every *.json in an anchor directory."""
    loaded = [(path, read_checkpoint(path)) for path in files]
    return loaded + (read_anchor_dir(directory) if directory is not None else [])


def checkpoint(gov: Governance, now: datetime, signing_key: Path | None = None) -> SignedCheckpoint:
    """Verify chain and MACs, then sign the head; the empty chain signs seq 0 and genesis."""
    signer = Signer(signing_key or gov.settings.resolved_signing_key_file)
    report = _intact(verify_chain(gov))
    head = Checkpoint(
        seq=report.head_seq or 0,
        hash=report.head_hash,
        taken_at=format_ts(now),
        events=report.verified,
    )
    return signer.sign(head)


def anchor(gov: Governance, now: datetime) -> Anchored:
    """Sign the head into the anchor directory, verifying only what came after the last anchor.

    The newest earlier anchor (by name: `write_anchor` names files by seq, then time) must
    carry our signature and still match the table (its
    event's hash, and at least as many events as it counted), so a rewrite or a cut of
    anchored history stops the anchoring with ChainBroken. Every anchor records the count.
    """
    signer = Signer(gov.settings.resolved_signing_key_file)
    directory = gov.settings.resolved_anchor_dir
    # Only the anchor built on is read and checked (`audit verify --checkpoints` checks them
    # all): reading every earlier file made each anchor's cost grow with the directory.
    last = newest_anchor(directory)
    if last is not None:
        signer.verifier.check(last[1], last[0])
    start = Checkpoint(seq=0, hash=GENESIS_HASH, taken_at="") if last is None else last[1]
    with snapshot(gov.engine) as conn:
        events = event_count(conn)
        reason = check_checkpoint(start, hash_at(conn, start.seq), events)
        if reason and last is not None:
            raise ChainBroken(f"audit chain disagrees with anchor {last[0]}: {reason}")
        rows = iter_rows(conn, after=start.seq)
        mac_key = gov.keyring.derive(MAC_PURPOSE)
        report = verify_rows(rows, mac_key=mac_key, start_seq=start.seq, start_hash=start.hash)
        _intact(report)
    head_seq = report.head_seq if report.head_seq is not None else start.seq
    if head_seq != events:
        raise ChainBroken(f"the trail holds {events} events but its head is event {head_seq}")
    head = Checkpoint(seq=head_seq, hash=report.head_hash, taken_at=format_ts(now), events=events)
    signed = signer.sign(head)
    return write_anchor(directory, signed), signed


def history(
    gov: Governance,
    *,
    model: str | None = None,
    version: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """Events for a subject (a model or a prompt), type and time range, in chain order."""
    with gov.store.read() as tx:
        if model is not None and not tx.prompts.exists(model):
            tx.registry.get_model(model)
        return tx.audit.query(
            model=model, version=version, event_type=event_type, since=since, until=until
        )


def export_jsonl(gov: Governance) -> Iterator[str]:
    """Every event as one line: the exact hashed text, prev_hash, hash and MAC, in chain order."""
    with snapshot(gov.engine) as conn:
        for row in iter_rows(conn):
            yield export_line(tuple(row))


def verify_export_file(
    settings: Settings,
    path: Path,
    anchors: Sequence[Anchored] = (),
    *,
    public_key: Path | None = None,
) -> TrailReport:
    """Verify an export file with no database: chain, MACs when the key file exists, anchors."""
    _check_signatures(settings, anchors, public_key)
    key_file = settings.resolved_secret_key_file
    mac_key = Keyring(key_file).derive(MAC_PURPOSE) if key_file.is_file() else None
    watch = {checkpoint.seq for _, checkpoint in anchors}
    try:
        with path.open(encoding="utf-8", newline="") as lines:
            chain, heads = verify_export(lines, mac_key=mac_key, watch=watch)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"export file {path} is unreadable: {exc}") from None
    _intact(chain)
    for source, checkpoint in sorted(anchors, key=_age, reverse=True):
        reason = check_checkpoint(checkpoint, heads.get(checkpoint.seq), chain.verified)
        if reason:
            raise ChainBroken(f"export disagrees with checkpoint {source}: {reason}")
    return _report(chain, anchors, key_file=key_file if mac_key is not None else None)
