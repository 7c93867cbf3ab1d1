"""Monitoring facts: drift per column and per dataset, accuracy series, the findings
the retirement audit draws from them, and the per-version audit record they end in.

Everything here is plain data and arithmetic over it: the statistical tests themselves run
in `governance.ml.drift` (Evidently's own functions), and the rules that turn findings into
a verdict live in `governance.domain.retirement`.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from governance.domain.audit import canonical_json
from governance.domain.models import LifecycleStage

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ColumnDrift(BaseModel):
    """One column's drift test: the method Evidently's defaults choose, its score and verdict."""

    model_config = _FROZEN

    column: str
    # The type the test ran under, num or cat: Evidently's inference on the current batch, as
    # its Report types columns. It differs from `reference_kind` (the reference profile's)
    # when the current batch arrives typed otherwise, e.g. integers with gaps as float64.
    kind: str
    reference_kind: str
    method: str
    score: float
    threshold: float
    drifted: bool


# The keys of one column's drift record, as `ColumnDrift` records them.
DRIFT_COLUMN_KEYS = tuple(ColumnDrift.model_fields)


class DatasetDrift(BaseModel):
    """Every column's drift test, the share drifted, and whether that share crosses the limit."""

    model_config = _FROZEN

    columns: list[ColumnDrift]
    reference_rows: int
    current_rows: int
    max_share: float

    @property
    def share(self) -> float:
        """The share of columns that drifted (0 when there are no columns)."""
        if not self.columns:
            return 0.0
        return sum(c.drifted for c in self.columns) / len(self.columns)

    @property
    def drifting(self) -> bool:
        """True when the drifted share is at or above the limit."""
        return bool(self.columns) and self.share >= self.max_share

    def drifted_columns(self) -> list[str]:
        """The names of the columns that drifted, in column order."""
        return [c.column for c in self.columns if c.drifted]


class DailyScore(BaseModel):
    """One day's metric on the outcomes labelled that day; `value` is None below the minimum."""

    model_config = _FROZEN

    day: date
    labels: int
    value: float | None


class Check(StrEnum):
    """What a finding is about."""

    age = "age"
    accuracy = "accuracy"
    drift = "drift"
    stale_card = "stale_card"
    no_traffic = "no_traffic"
    break_glass = "break_glass"
    review = "review"
    error = "error"


class Status(StrEnum):
    """How a check came out."""

    ok = "ok"
    breached = "breached"
    insufficient = "insufficient"
    error = "error"


class Finding(BaseModel):
    """One check on one version: its status, a sentence naming what was found, its figures."""

    model_config = _FROZEN

    check: Check
    status: Status
    message: str
    figures: dict[str, Any] = Field(default_factory=dict)
    # A hard criterion (age, accuracy, drift) may retire a version that has a successor.
    hard: bool = False


# The metrics a retirement criterion may name. Classifiers: accuracy, balanced_accuracy, f1,
# precision, recall; regressors: r2. Higher is better for every one, so "below the minimum"
# is always the bad direction and no per-metric direction needs stating.
KNOWN_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "r2",
)


def check_metric(name: str) -> str:
    """Return `name` if it is in KNOWN_METRICS, else raise ValueError naming it and the list."""
    # ValueError (not a GovernanceError) because pydantic validators call this: the card and
    # policy parsers turn it into MalformedCard / ConfigError with the field path in front.
    if name not in KNOWN_METRICS:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(KNOWN_METRICS)}")
    return name


# A metric name as a schema type: card and policy fields refuse unknown names when parsed.
Metric = Annotated[str, AfterValidator(check_metric)]


def trailing_run_below(series: list[DailyScore], threshold: float) -> int:
    """Days in the most recent unbroken run of consecutive days scoring below `threshold`."""
    run, previous = 0, None
    for score in sorted(series, key=lambda s: s.day, reverse=True):
        # a day without a score, or a missing calendar day, ends the run: no evidence
        # that the metric stayed low is not evidence that it did
        gap = previous is not None and (previous - score.day).days != 1
        if gap or score.value is None or score.value >= threshold:
            break
        run, previous = run + 1, score.day
    return run


class Verdict(StrEnum):
    """What the audit recommends for one version."""

    retain = "retain"
    revalidate = "re-validate"
    retire = "retire"


class VersionAudit(BaseModel):
    """One version's audit: its verdict, the reason, and every finding behind it."""

    model_config = _FROZEN

    model: str
    version: str
    stage: LifecycleStage
    verdict: Verdict
    reason: str
    successor: str | None
    findings: list[Finding]
    checked_at: datetime

    def rows(self) -> list[dict[str, str]]:
        """Flat table rows, one per finding (one 'none' row when there are no findings)."""
        base = {
            "model": self.model,
            "version": self.version,
            "stage": self.stage.value,
            "verdict": self.verdict.value,
        }
        if not self.findings:
            return [{**base, "check": "none", "status": "", "message": self.reason}]
        return [
            {**base, "check": f.check.value, "status": f.status.value, "message": f.message}
            for f in self.findings
        ]


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None: JSON columns cannot hold them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def findings_digest(findings: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of recorded findings, as the audit event carries it."""
    return hashlib.sha256(canonical_json(findings).encode()).hexdigest()


class AuditRow(BaseModel):
    """One version's result in one retirement-audit run."""

    model_config = ConfigDict(frozen=True)

    id: str
    audit_run: str
    model_name: str
    version: str
    verdict: str
    reason: str
    successor: str | None
    findings: list[dict[str, Any]]
    report_digest: str | None
    checked_at: datetime

    def drift_columns(self) -> list[dict[str, Any]] | None:
        """The drift finding's per-column records (None when no drift test ran), stable keys."""
        figures = (self.drift_finding() or {}).get("figures") or {}
        columns = figures.get("columns")
        if columns is None:
            return None
        # Every key in every record: None where an audit from before a key existed lacks it.
        return [{key: c.get(key) for key in DRIFT_COLUMN_KEYS} for c in columns]

    def drift_finding(self) -> dict[str, Any] | None:
        """The recorded drift finding, or None when the audit recorded none (it failed early)."""
        return next((f for f in self.findings if f.get("check") == Check.drift.value), None)

    def document(self) -> dict[str, Any]:
        """JSON-ready: verdict, findings as recorded, and the per-column drift records."""
        at = self.checked_at
        return {
            "model": self.model_name,
            "version": self.version,
            "verdict": self.verdict,
            "reason": self.reason,
            "successor": self.successor,
            "checked_at": (
                at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            ).isoformat(),
            "audit_run": self.audit_run,
            "report_digest": self.report_digest,
            "findings": self.findings,
            "drift_columns": self.drift_columns(),
        }
