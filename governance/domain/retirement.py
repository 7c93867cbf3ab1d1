"""Retirement rules: effective criteria, one finding per check, and the verdict they give.

Each builder turns figures the services gathered into a `Finding`; `decide` turns the
findings into retain / re-validate / retire. Missing data is never a pass: too few labels
or rows is `insufficient`, which asks for re-validation rather than keeping quiet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from governance.domain.cards import RetirementCriteria
from governance.domain.monitoring import (
    Check,
    DailyScore,
    DatasetDrift,
    Finding,
    Status,
    Verdict,
    trailing_run_below,
)

# Verdict, VersionAudit and trailing_run_below are plain data and arithmetic, so they live with
# the other monitoring types; they are re-exported here beside the rules that use them.
from governance.domain.monitoring import VersionAudit as VersionAudit
from governance.domain.policy_sections import RetirementDefaults

_FROZEN = ConfigDict(frozen=True, extra="forbid")
# When the nightly retirement audit runs (cron, UTC): prefect.yaml and deployments/serve.py
# schedule it so, and compliance packs state it as the post-market monitoring schedule.
RETIREMENT_AUDIT_CRON = "0 2 * * *"


class Criteria(BaseModel):
    """The thresholds in force for one version: the card's where it sets them, else policy."""

    model_config = _FROZEN

    max_age_days: int
    accuracy_metric: str
    min_accuracy: float
    min_accuracy_days: int | None
    accuracy_window_days: int
    min_labels: int
    max_drift_share: float
    drift_window_days: int
    min_drift_rows: int
    no_traffic_days: int
    review_days: int


def effective_criteria(card: RetirementCriteria, defaults: RetirementDefaults) -> Criteria:
    """Merge a card's retirement criteria over the policy defaults (the card's value wins)."""
    from_card = ("max_age_days", "accuracy_metric", "min_accuracy", "min_accuracy_days")
    from_card += ("max_drift_share", "no_traffic_days")
    values = {name: getattr(defaults, name) for name in Criteria.model_fields}
    values.update({k: getattr(card, k) for k in from_card if getattr(card, k) is not None})
    return Criteria(**values)


_NAMED_PERIODS = {"daily": 1, "weekly": 7, "monthly": 30, "quarterly": 91, "annually": 365}
_NAMED_PERIODS |= dict.fromkeys(("semi-annually", "semiannually", "half-yearly"), 182)
_NAMED_PERIODS["yearly"] = 365
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_EVERY = re.compile(r"every\s+(\d+)\s+(day|week|month|year)s?")


def review_period_days(schedule: str) -> int | None:
    """Days between reviews for a card's free-text schedule, or None when it is unreadable."""
    text = " ".join(schedule.strip().lower().split())
    if text in _NAMED_PERIODS:
        return _NAMED_PERIODS[text]
    match = _EVERY.fullmatch(text)
    if match and int(match[1]) > 0:
        return int(match[1]) * _UNIT_DAYS[match[2]]
    return None


def _num(value: float) -> str:
    # four significant digits: 0.8799 must not print as 0.88 next to a 0.88 minimum
    return f"{value:.4g}"


def _finding(check: Check, status: Status | bool, message: str, figures: dict[str, Any],
             hard: bool = False) -> Finding:  # fmt: skip
    """A Finding; a bool status means breached (True) or ok (False)."""
    if isinstance(status, bool):
        status = Status.breached if status else Status.ok
    return Finding(check=check, status=status, message=message, figures=figures, hard=hard)


def age_finding(
    *,
    trained_on: date | None,
    created_at: datetime,
    approved_at: datetime | None,
    criteria: Criteria,
    now: datetime,
) -> Finding:
    """Breached when the days since training or since approval exceed max_age_days."""
    limit = criteria.max_age_days
    trained = trained_on or created_at.date()
    trained_days = (now.date() - trained).days
    approved_days = (now - approved_at).days if approved_at else None
    facts = f"trained {trained_days} days ago on {trained.isoformat()}"
    if trained_on is None:
        facts += " (the card states no training date, so the registration date stands in)"
    facts += " and " + (
        "never approved" if approved_at is None else f"approved {approved_days} days ago"
    )
    ages = {"training": trained_days, "approval": approved_days}
    over = [name for name, days in ages.items() if days is not None and days > limit]
    outcome = f"{' and '.join(over)} age over" if over else "within"
    figures = {
        "training_date": trained.isoformat(),
        "training_date_from": "card" if trained_on else "registration",
        "days_since_training": trained_days,
        "days_since_approval": approved_days,
        "max_age_days": limit,
        "over": over,
    }
    message = f"{facts}: {outcome} the {limit}-day limit"
    return _finding(Check.age, bool(over), message, figures, hard=True)


def accuracy_finding(
    *,
    series: list[DailyScore],
    window_value: float | None,
    window_labels: int,
    criteria: Criteria,
) -> Finding:
    """Breached on a run of min_accuracy_days days below min_accuracy, else on the window."""
    if criteria.min_accuracy_days is not None:
        return _run_finding(series, criteria, criteria.min_accuracy_days)
    metric, floor, needed = criteria.accuracy_metric, criteria.min_accuracy, criteria.min_labels
    figures: dict[str, Any] = {
        "metric": metric,
        "min_accuracy": floor,
        "window_days": criteria.accuracy_window_days,
        "labels": window_labels,
        "min_labels": needed,
        "value": None,  # stays None unless there were enough labels to trust a number
    }
    over = f"{metric} over the last {criteria.accuracy_window_days} days"
    if window_labels < needed:
        message = f"insufficient labels: {window_labels} of {needed} needed ({over})"
        return _finding(Check.accuracy, Status.insufficient, message, figures, hard=True)
    if window_value is None:
        message = f"no {over} although {window_labels} labels arrived"
        return _finding(Check.accuracy, Status.insufficient, message, figures, hard=True)
    below = window_value < floor
    message = (
        f"{over} is {_num(window_value)} on {window_labels} labels, "
        f"{'below' if below else 'at or above'} the minimum {floor:g}"
    )
    return _finding(Check.accuracy, below, message, {**figures, "value": window_value}, hard=True)


def _run_finding(series: list[DailyScore], criteria: Criteria, days: int) -> Finding:
    """The run-length form of the accuracy check: `days` consecutive days below the minimum."""
    metric, floor = criteria.accuracy_metric, criteria.min_accuracy
    ordered = sorted(series, key=lambda s: s.day)
    scored = [(s.day, s.value) for s in ordered if s.value is not None]
    run = trailing_run_below(ordered, floor)
    figures: dict[str, Any] = {
        "metric": metric,
        "min_accuracy": floor,
        "min_accuracy_days": days,
        "min_labels": criteria.min_labels,
        "run_days": run,
        "scored_days": len(scored),
        "latest_day": None,
        "value": None,  # the latest day's value, once enough days were scored to judge
        "series": [
            {"day": s.day.isoformat(), "labels": s.labels, "value": s.value} for s in ordered
        ],
    }
    if len(scored) < days:
        message = (
            f"insufficient labels: {len(scored)} of {days} days needed with at least "
            f"{criteria.min_labels} labels each for {metric}"
        )
        return _finding(Check.accuracy, Status.insufficient, message, figures, hard=True)
    latest_day, latest = scored[-1]
    figures.update(latest_day=latest_day.isoformat(), value=latest)
    breached = run >= days
    message = (
        f"{metric} below {floor:g} for the last {run} consecutive days "
        f"({'at or over' if breached else 'under'} the {days}-day limit), "
        f"latest {_num(latest)} on {latest_day.isoformat()}"
    )
    return _finding(Check.accuracy, breached, message, figures, hard=True)


def drift_finding(drift: DatasetDrift | None, *, current_rows: int, criteria: Criteria) -> Finding:
    """Breached when the drifted share of columns reaches the limit; insufficient on few rows."""
    window = f"over the last {criteria.drift_window_days} days"
    needed = criteria.min_drift_rows
    figures: dict[str, Any] = {
        "current_rows": current_rows,
        "min_drift_rows": needed,
        "max_share": drift.max_share if drift else criteria.max_drift_share,
    }
    if current_rows < needed:
        message = f"insufficient rows for drift: {current_rows} of {needed} needed {window}"
        return _finding(Check.drift, Status.insufficient, message, figures, hard=True)
    if drift is None:
        message = f"no drift test ran on the {current_rows} rows {window}"
        return _finding(Check.drift, Status.insufficient, message, figures, hard=True)
    drifted = drift.drifted_columns()
    figures.update(
        share=drift.share,
        drifted=drifted,
        reference_rows=drift.reference_rows,
        columns=[c.model_dump() for c in drift.columns],
    )
    names = f": {', '.join(drifted)}" if drifted else ""
    message = (
        f"{len(drifted)} of {len(drift.columns)} columns drifted {window} (share "
        f"{drift.share:.2f}, {'at or over' if drift.drifting else 'under'} the limit "
        f"{drift.max_share:g}){names}"
    )
    return _finding(Check.drift, drift.drifting, message, figures, hard=True)


def stale_card_finding(
    *, schedule: str, last_reviewed: datetime, criteria: Criteria, now: datetime
) -> Finding:
    """Breached (soft) when the card's review is overdue by its own schedule."""
    period = review_period_days(schedule)
    days = period if period is not None else criteria.review_days
    due = last_reviewed + timedelta(days=days)
    overdue = now > due
    basis = (
        f"its {schedule.strip()!r} schedule ({days} days)"
        if period is not None
        else f"the policy's {days}-day review period (schedule {schedule.strip()!r} is unreadable)"
    )
    message = (
        f"card last reviewed on {last_reviewed.date().isoformat()}; by {basis} the next review "
        f"was due on {due.date().isoformat()}: "
        + (f"{(now - due).days} days overdue" if overdue else "not yet due")
    )
    figures = {
        "schedule": schedule,
        "schedule_readable": period is not None,
        "period_days": days,
        "last_reviewed": last_reviewed.isoformat(),
        "due": due.isoformat(),
        "days_overdue": (now - due).days if overdue else 0,
    }
    return _finding(Check.stale_card, overdue, message, figures)


def no_traffic_finding(
    *, last_activity: datetime | None, since: datetime, criteria: Criteria, now: datetime
) -> Finding:
    """Breached when no prediction or ingested batch came for no_traffic_days in this stage."""
    # counting from the stage entry too, so a version promoted yesterday is not called idle
    start = max(last_activity, since) if last_activity else since
    idle, limit = now - start, criteria.no_traffic_days
    breached = idle >= timedelta(days=limit)
    if last_activity is not None and last_activity >= since:
        basis = f"last prediction or ingested batch on {last_activity.date().isoformat()}"
    else:
        basis = f"no prediction or ingested batch since entering its stage on {since.date()}"
    message = (
        f"{basis}: idle {idle.days} days, {'at or over' if breached else 'under'} "
        f"the {limit}-day limit"
    )
    figures = {
        "last_activity": last_activity.isoformat() if last_activity else None,
        "since": since.isoformat(),
        "idle_days": idle.days,
        "no_traffic_days": limit,
    }
    return _finding(Check.no_traffic, breached, message, figures)


def break_glass_finding(open_reviews: list[str], escalated: Sequence[str] = ()) -> Finding:
    """Breached (soft) while a break-glass retro-review of the version is open, or was
    rejected with no rollback possible (escalated) and no lead has acted yet."""
    parts = []
    if open_reviews:
        parts.append(
            f"{len(open_reviews)} break-glass retro-review(s) still open: {', '.join(open_reviews)}"
        )
    if escalated:
        parts.append(
            f"{len(escalated)} break-glass retro-review(s) rejected and escalated, the version "
            f"still in production until an ml_lead acts: {', '.join(escalated)}"
        )
    message = "; ".join(parts) or "no break-glass retro-review is open"
    figures = {"open_reviews": list(open_reviews)}
    if escalated:
        figures["escalated_reviews"] = list(escalated)
    return _finding(Check.break_glass, bool(parts), message, figures)


def error_finding(check: Check, exc: Exception) -> Finding:
    """A check that raised: Status.error naming the exception type and its message."""
    message = f"{check.value} check failed: {type(exc).__name__}: {exc}"
    figures = {"error": type(exc).__name__, "detail": str(exc)}
    return _finding(check, Status.error, message, figures)


def decide(
    findings: list[Finding],
    *,
    successor: str | None,
    retained_until: datetime | None,
    now: datetime,
) -> tuple[Verdict, str]:
    """The verdict the findings give, with a one-sentence reason."""
    breached = [f for f in findings if f.status == Status.breached]
    hard = _names(f for f in breached if f.hard)
    idle = any(f.check == Check.no_traffic for f in breached)
    if (hard and successor) or idle:
        causes = " and ".join([*hard, *(["no_traffic"] if idle else [])])
        why = f"{successor} can take over" if hard and successor else "it serves no traffic"
        reason = f"{causes} breached, and {why}"
        if retained_until is not None and retained_until > now:
            # a rejected retirement review is a decision: it holds until its date passes
            until = retained_until.date().isoformat()
            return Verdict.retain, f"{reason}, but a rejected retirement keeps it until {until}"
        return Verdict.retire, reason
    problems = []
    if hard:
        problems.append(f"{' and '.join(hard)} breached with no successor to take over")
    short = _names(f for f in findings if f.status == Status.insufficient)
    if short:
        problems.append(f"too little data for {' and '.join(short)}")
    failed = _names(f for f in findings if f.status == Status.error)
    if failed:
        problems.append(f"{' and '.join(failed)} could not be checked")
    soft = _names(f for f in breached if not f.hard and f.check != Check.no_traffic)
    if soft:
        problems.append(f"{' and '.join(soft)} breached")
    if problems:
        return Verdict.revalidate, "; ".join(problems)
    return Verdict.retain, "every check passed"


def _names(findings: Iterable[Finding]) -> list[str]:
    """The distinct check names of `findings`, in order."""
    return list(dict.fromkeys(f.check.value for f in findings))
