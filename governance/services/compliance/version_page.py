"""A version as the console shows it: card, evaluation against production, lineage, approvals,
lifecycle; and two versions side by side. Read from the same records a compliance pack is built
from, through the same helpers, so the page and the pack never tell two stories.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from governance.bootstrap import Governance
from governance.domain.compliance_pack import Mark
from governance.domain.errors import InvalidInput
from governance.reports.card_sections import card_sections
from governance.services.compliance.lifecycle import lifecycle_rows, marks, served_rows
from governance.services.compliance.oversight_items import decision_rows
from governance.services.compliance.records import VersionRecords, read_records
from governance.store.cards import CardRevision
from governance.store.evaluation import EvaluationRun


@dataclass(frozen=True)
class MetricRow:
    """One metric of the candidate beside production's figure on the same dataset."""

    name: str
    candidate: float
    production: float | None

    @property
    def delta(self) -> float | None:
        """Candidate minus production, when production was measured."""
        return None if self.production is None else self.candidate - self.production


@dataclass(frozen=True)
class VersionPage:
    """Everything the version page shows, read in one snapshot."""

    records: VersionRecords
    aliases: list[str]
    evaluation: EvaluationRun | None
    metrics: list[MetricRow]
    decisions: list[list[str]]
    refused: list[list[str]]
    history: list[list[str]]
    marks: list[Mark]
    served: list[list[str]]

    @property
    def card(self) -> CardRevision | None:
        """The version's latest card revision."""
        return self.records.cards[-1] if self.records.cards else None


def metric_rows(run: EvaluationRun | None) -> list[MetricRow]:
    """The run's metrics beside the production baseline it was compared with."""
    if run is None:
        return []
    baseline = run.result.baseline or {}
    return [
        MetricRow(name, value, baseline.get(name))
        for name, value in sorted(run.result.metrics.items())
    ]


def version_page(gov: Governance, name: str, version: str) -> VersionPage:
    """The version page's content; ModelNotFound / VersionNotFound name an unknown one."""
    records = read_records(gov, name, version, count_events=False)
    with gov.store.read() as tx:
        aliases = tx.registry.aliases_of(records.version.id)
    latest = records.evaluations[-1] if records.evaluations else None
    history, _ = lifecycle_rows(records)
    served, _ = served_rows(records)
    refused = [
        [
            f"#{e.seq}",
            e.ts[:19].replace("T", " "),
            str(e.details.get("approver", e.actor)),
            str(e.details.get("role", "")),
            str(e.details.get("reason", "")),
        ]
        for e in records.of_type("approval.refused")
    ]
    return VersionPage(
        records=records,
        aliases=aliases,
        evaluation=latest,
        metrics=metric_rows(latest),
        decisions=decision_rows(records)[1],
        refused=refused,
        history=history,
        marks=marks(records),
        served=served,
    )


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the version, its latest evaluation and card."""

    records: VersionRecords
    evaluation: EvaluationRun | None
    card: CardRevision | None


@dataclass(frozen=True)
class Comparison:
    """Two versions of a model: metrics side by side and the unified diff of their cards."""

    a: Side
    b: Side
    metrics: list[tuple[str, float | None, float | None]]
    card_diff: list[tuple[str, str]]  # (kind: '+', '-', ' ' or '@', line)


def _side(records: VersionRecords) -> Side:
    return Side(
        records,
        records.evaluations[-1] if records.evaluations else None,
        records.cards[-1] if records.cards else None,
    )


def _figures(side: Side) -> dict[str, float]:
    if side.evaluation is not None:
        return dict(side.evaluation.result.metrics)
    return dict(side.records.version.metrics)


def card_text(card: CardRevision | None) -> list[str]:
    """A card as plain lines, section by section as the page shows it (values unescaped)."""
    if card is None:
        return []
    lines: list[str] = []
    for section in card_sections(card.card):
        lines.append(f"## {section.title}")
        for block in section.blocks:
            if block.title:
                lines.append(f"### {block.title}")
            if block.kind == "text":
                lines += (block.text or "").splitlines()
            elif block.kind == "list":
                lines += [f"- {item}" for item in block.items]
            else:
                lines += [" | ".join(row) for row in block.rows]
    return lines


def card_diff(a: CardRevision | None, b: CardRevision | None, labels: tuple[str, str]):
    """The unified diff of two cards' text, line by line, each with its kind."""
    before, after = card_text(a), card_text(b)
    lines = []
    for line in difflib.unified_diff(before, after, *labels, lineterm=""):
        kind = line[:1] if line[:1] in "+-@" else " "
        if line.startswith(("+++", "---")):
            kind = "@"
        lines.append((kind, line))
    return lines


def compare(gov: Governance, name: str, a: str, b: str) -> Comparison:
    """Versions `a` and `b` of `name` side by side; InvalidInput when either is not given."""
    if not a or not b:
        raise InvalidInput("name two versions to compare: ?a=VERSION&b=VERSION")
    left = _side(read_records(gov, name, a, count_events=False))
    right = _side(read_records(gov, name, b, count_events=False))
    fa, fb = _figures(left), _figures(right)
    metrics = [(m, fa.get(m), fb.get(m)) for m in sorted(fa.keys() | fb.keys())]
    labels = (f"{name}@{a}", f"{name}@{b}")
    return Comparison(left, right, metrics, card_diff(left.card, right.card, labels))
