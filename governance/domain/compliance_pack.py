"""A compliance pack's value types: items with their sources, gap scores and the manifest.

An item states what the records (or the provider) say for one Annex IV item, cites where
each statement came from, and names what is missing. Its coverage follows from that list:
covered when nothing is missing, missing when nothing was found, partial otherwise.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.annex_iv import BY_ID, POINTS, ItemKind

Coverage = Literal["covered", "partial", "missing"]
SourceKind = Literal[
    "event",
    "model_version",
    "card_revision",
    "evaluation_run",
    "approval_request",
    "routing_spec",
    "retirement_audit",
    "compliance_document",
    "policy",
]
PACK_FORMAT = "governance-annex-iv-pack/1"
# The lanes of the lifecycle timeline chart.
LANES = ("registry", "evaluation", "approval", "serving", "monitoring")
FROZEN = ConfigDict(frozen=True)


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, compact, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    """sha256 of bytes, hex."""
    return hashlib.sha256(data).hexdigest()


class Source(BaseModel):
    """A record a statement came from: an event (seq and hash) or a stored record."""

    model_config = FROZEN

    kind: SourceKind
    ref: str
    digest: str | None = None
    seq: int | None = None

    def label(self) -> str:
        """How a reader finds it: `event #12 (model.evaluated, 3f2a…)` and the like."""
        short = f" {self.digest[:12]}" if self.digest else ""
        return f"{self.kind.replace('_', ' ')} {self.ref}{short}"


class Table(BaseModel):
    """A table in an item: a title, column names and rows of text."""

    model_config = FROZEN

    title: str
    columns: list[str]
    rows: list[list[str]]


class Item(BaseModel):
    """One Annex IV item as the pack states it."""

    model_config = FROZEN

    id: str
    point: int
    title: str
    kind: ItemKind
    coverage: Coverage
    reason: str
    # What the item needs and was not found: the gap, named.
    missing: list[str] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)

    def content_hash(self) -> str:
        """sha256 of the item's canonical JSON: what the manifest signs for it."""
        return sha256_hex(canonical(self.model_dump(mode="json")).encode())


class Draft:
    """Collects an item's statements, sources and the parts it needs, then scores it."""

    def __init__(self, item_id: str) -> None:
        self.spec = BY_ID[item_id]
        self.text: list[str] = []
        self.tables: list[Table] = []
        self.sources: list[Source] = []
        self.found: list[str] = []
        self.missing: list[str] = []

    def say(self, line: str) -> Draft:
        """Add a statement."""
        self.text.append(line)
        return self

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> Draft:
        """Add a table; cells become text."""
        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        self.tables.append(Table(title=title, columns=columns, rows=cells))
        return self

    def cite(self, *sources: Source) -> Draft:
        """Add sources, once each."""
        for source in sources:
            if source not in self.sources:
                self.sources.append(source)
        return self

    def need(self, part: str, present: bool) -> bool:
        """Record whether a part the item needs was found; returns `present`."""
        (self.found if present else self.missing).append(part)
        return present

    def item(self) -> Item:
        """The scored item."""
        if not self.missing:
            coverage: Coverage = "covered"
            reason = "found: " + ", ".join(self.found)
        elif not self.found:
            coverage, reason = "missing", "missing: " + ", ".join(self.missing)
        else:
            coverage = "partial"
            reason = f"found: {', '.join(self.found)}; missing: {', '.join(self.missing)}"
        return Item(
            id=self.spec.id,
            point=self.spec.point,
            title=self.spec.title,
            kind=self.spec.kind,
            coverage=coverage,
            reason=reason,
            missing=self.missing,
            text=self.text,
            tables=self.tables,
            sources=self.sources,
        )


class Mark(BaseModel):
    """One event on the lifecycle timeline chart."""

    model_config = FROZEN

    seq: int
    ts: str
    lane: str
    label: str
    alarm: bool


class PointScore(BaseModel):
    """One Annex IV point's coverage, drawn from its items."""

    model_config = FROZEN

    point: int
    title: str
    coverage: Coverage
    reason: str


def score_points(items: list[Item]) -> list[PointScore]:
    """Each point: covered when all its items are, missing when all are, else partial."""
    scores = []
    for point, title in POINTS.items():
        mine = [item for item in items if item.point == point]
        kinds = {item.coverage for item in mine}
        coverage: Coverage = (
            "covered" if kinds == {"covered"} else "missing" if kinds == {"missing"} else "partial"
        )
        gaps = [f"{item.id} missing {', '.join(item.missing)}" for item in mine if item.missing]
        reason = "; ".join(gaps) if gaps else "every item covered"
        scores.append(PointScore(point=point, title=title, coverage=coverage, reason=reason))
    return scores


def gap_count(points: list[PointScore]) -> int:
    """How many points are not covered."""
    return sum(point.coverage != "covered" for point in points)


class RetentionCheck(BaseModel):
    """Art. 12, 18 and 19: is the log whole and kept long enough, and until when to keep it."""

    model_config = FROZEN

    logs_months: int
    documentation_years: int
    first_event_at: str | None
    placed_on_market_at: str | None
    keep_documentation_until: str | None
    chain_events: int
    chain_head_seq: int
    shortfalls: list[str] = Field(default_factory=list)


class LogSummary(BaseModel):
    """The version's log slice: which events, and what was checked when the pack was built."""

    model_config = FROZEN

    file: str
    events: int
    first_seq: int | None
    last_seq: int | None
    checked: list[str]


class ManifestItem(BaseModel):
    """An item as the manifest lists it: its hash, sources and coverage, not its content."""

    model_config = FROZEN

    id: str
    title: str
    coverage: Coverage
    reason: str
    sha256: str
    sources: list[Source]


class Manifest(BaseModel):
    """What the pack holds, hashed; its Ed25519 signature is `manifest.sig`."""

    model_config = FROZEN

    format: str = PACK_FORMAT
    model: str
    version: str
    risk_level: str
    built_at: str
    built_by: str
    chain_head_seq: int
    chain_head_hash: str
    policy_version: str
    points: list[PointScore]
    items: list[ManifestItem]
    retention: RetentionCheck
    log: LogSummary
    files: dict[str, str]
    key_fingerprint: str

    def to_bytes(self) -> bytes:
        """The manifest file's exact bytes: indented canonical JSON plus a newline."""
        data = self.model_dump(mode="json")
        return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def manifest_item(item: Item) -> ManifestItem:
    """The manifest's entry for an item."""
    return ManifestItem(
        id=item.id,
        title=item.title,
        coverage=item.coverage,
        reason=item.reason,
        sha256=item.content_hash(),
        sources=item.sources,
    )
