"""Art. 12 and retention: the version's log slice, checked against the chain, and kept long enough.

The slice is the version's events, its model's own and the context events its statements
cite, each exported with its exact hashed text (the `audit export` line). Before a pack
states anything, every event of the slice must hash to its stored hash, carry the MAC of
the key held outside the database, and link to the stored hash of the event before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from governance.domain.audit import GENESIS_HASH, MAC_PURPOSE, EventRow, authentic, export_line
from governance.domain.compliance_pack import LogSummary, RetentionCheck
from governance.domain.errors import ChainBroken
from governance.domain.policy_sections import DOCUMENTATION_ARTICLE, LOG_ARTICLES
from governance.keyring import Keyring
from governance.services.compliance.records import VersionRecords

LOG_FILE = "log.jsonl"
CHECKED = [
    "every event hashes to its stored hash (sha256 of prev_hash + canonical text)",
    "every event carries the MAC of the key kept outside the database",
    "every event's prev_hash is the stored hash of the event before it",
]


def slice_rows(records: VersionRecords) -> list[EventRow]:
    """The events the pack exports: the version's, its model's and the cited context, by seq."""
    found = {row[0]: row for row in [*records.rows, *records.context_rows]}
    return [found[seq] for seq in sorted(found)]


def check_slice(rows: list[EventRow], records: VersionRecords, keyring: Keyring) -> LogSummary:
    """Check every event of the slice against the chain; ChainBroken names the first failure."""
    mac_key = keyring.derive(MAC_PURPOSE)
    for row in rows:
        seq, prev = row[0], row[8]
        if not authentic(row, mac_key):
            raise ChainBroken(
                f"audit event {seq} does not match its hash or MAC: it was changed after it was"
                " written, so no pack is built from it"
            )
        expected = GENESIS_HASH if seq == 1 else records.links.get(seq - 1)
        if prev != expected:
            raise ChainBroken(
                f"audit event {seq} does not link to event {seq - 1} (missing or changed): "
                "no pack is built on a broken chain"
            )
    return LogSummary(
        file=LOG_FILE,
        events=len(rows),
        first_seq=rows[0][0] if rows else None,
        last_seq=rows[-1][0] if rows else None,
        checked=CHECKED,
    )


def log_text(rows: list[EventRow]) -> str:
    """The slice as export lines, one per event."""
    return "".join(export_line(row) + "\n" for row in rows)


def retention(records: VersionRecords) -> RetentionCheck:
    """Whether the log is whole and covers the version, and until when to keep the pack."""
    policy = records.policy.retention
    shortfalls = []
    if records.chain_events != records.chain_head_seq:
        shortfalls.append(
            f"the trail holds {records.chain_events} events but its head is event "
            f"{records.chain_head_seq}: events were removed ({LOG_ARTICLES} require the logs "
            f"to be kept at least {policy.logs_months} months)"
        )
    if not records.of_type("model.version_registered"):
        shortfalls.append(
            f"the version's registration event is not in the trail: its log does not reach "
            f"back to its start ({LOG_ARTICLES})"
        )
    if records.cards and records.cards[0].revision != 1:
        shortfalls.append(
            f"card revisions before {records.cards[0].revision} are gone: "
            f"{DOCUMENTATION_ARTICLE} requires documentation be kept "
            f"{policy.documentation_years} years"
        )
    placed = _placed_on_market(records)
    return RetentionCheck(
        logs_months=policy.logs_months,
        documentation_years=policy.documentation_years,
        first_event_at=records.events[0].ts if records.events else None,
        placed_on_market_at=placed.isoformat() if placed else None,
        keep_documentation_until=_years_after(placed, policy.documentation_years),
        chain_events=records.chain_events,
        chain_head_seq=records.chain_head_seq,
        shortfalls=shortfalls,
    )


def _placed_on_market(records: VersionRecords) -> datetime | None:
    for found in records.of_type("model.stage_changed"):
        if found.details.get("to") == "production":
            return datetime.fromisoformat(found.ts.replace("Z", "+00:00"))
    return None


def _years_after(when: datetime | None, years: int) -> str | None:
    if when is None:
        return None
    try:
        return when.replace(year=when.year + years).date().isoformat()
    except ValueError:  # 29 February
        return (when.replace(day=28, year=when.year + years) + timedelta(days=1)).date().isoformat()
