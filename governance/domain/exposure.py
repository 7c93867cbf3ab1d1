"""Who a version may serve outside a canary: the production gate for flags and experiments.

Passing staging is not an approval for production traffic. A version approved for
production (it is, or was, production: only a production version is ever deprecated) may
be flagged to anyone and be an A/B arm. One that only passed staging may reach named users,
and a policy-capped share of named orgs, never a percentage of everyone; so it is never an
A/B arm, which is a share of everyone. A rejected production request stands until a later
one is approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.domain.errors import InvalidInput
from governance.domain.models import LifecycleStage
from governance.domain.rollout import FlagRule, RoutingRefused

APPROVED_STAGES = frozenset({LifecycleStage.production, LifecycleStage.deprecated})


class RejectedForProduction(RoutingRefused):
    """The version's production request was rejected, and no later one was approved."""


class NotApprovedForProduction(RoutingRefused):
    """The version only passed staging: it may not serve this share of users."""


class ArmsNotDistinct(InvalidInput):
    """Two arms of an experiment serve the same version."""


class ExperimentTooLong(InvalidInput):
    """An experiment would split traffic longer than the policy allows."""


@dataclass(frozen=True)
class Rejection:
    """A production request's rejection that no later approved request has superseded."""

    request_id: str
    approver: str
    role: str
    decided_at: datetime
    notes: str

    def describe(self) -> str:
        """'request R was rejected by dave (risk_officer) on 2026-11-23: notes'."""
        why = f": {self.notes.strip()}" if self.notes.strip() else ""
        return (
            f"its production request {self.request_id} was rejected by {self.approver} "
            f"({self.role}) on {self.decided_at.date().isoformat()}{why}"
        )


@dataclass(frozen=True)
class Standing:
    """A version's standing for production traffic: its stage and any standing rejection."""

    ref: str
    stage: LifecycleStage
    rejection: Rejection | None

    @property
    def approved(self) -> bool:
        """Approved for production: it is production, or was (deprecated comes only from it)."""
        return self.stage in APPROVED_STAGES


def check_not_rejected(standing: Standing, what: str) -> None:
    """Refuse `what` (a flag, an arm) while a rejection of the version's production stands."""
    if standing.rejection is not None:
        raise RejectedForProduction(
            f"{standing.ref}: {standing.rejection.describe()}: {what} may not serve it until "
            "a later production request is approved"
        )


def check_flag(standing: Standing, rule: FlagRule, cap: float) -> None:
    """Refuse a flag that reaches more users than the version's standing allows."""
    check_not_rejected(standing, f"flag {rule.name}")
    if standing.approved:
        return
    head = f"{standing.ref} is not approved for production (it is {standing.stage.value})"
    share = rule.percentage if rule.percentage is not None else 100
    if not (rule.user_ids or rule.org_ids):
        matching = " matching its attributes" if rule.attributes else ""
        everyone = f"{share:g}% of everyone{matching}"
        raise NotApprovedForProduction(
            f"{head}: a flag to it must name users or orgs, never {everyone}"
        )
    # A list of user ids names people one by one; an org is a population, so only a share.
    if share > cap and (rule.percentage is not None or not rule.user_ids):
        named = "named users" if rule.user_ids else "the named orgs"
        raise NotApprovedForProduction(
            f"{head}: a flag to it may reach at most {cap:g}% of {named} "
            f"(flags.max_unapproved_percentage), got {share:g}%"
        )


def check_arm(name: str, standing: Standing) -> None:
    """Refuse an A/B arm that is not approved for production (an arm is a share of everyone)."""
    check_not_rejected(standing, f"variant {name}")
    if not standing.approved:
        raise NotApprovedForProduction(
            f"variant {name}: {standing.ref} is not approved for production (it is "
            f"{standing.stage.value}): an A/B arm serves a share of everyone, so only a "
            "version approved for production may be one"
        )


def check_distinct_arms(variants: dict[str, str]) -> None:
    """Refuse two arms on one version: an experiment compares distinct versions."""
    seen: dict[str, str] = {}
    for name, version in variants.items():
        if version in seen:
            raise ArmsNotDistinct(
                f"variants {seen[version]} and {name} both serve {version}: "
                "an experiment's arms must be distinct versions"
            )
        seen[version] = name


def check_duration(until_at: datetime | None, now: datetime, max_days: float) -> None:
    """Refuse an end time further than the policy's cap (a sample target is capped when run)."""
    if until_at is None:
        return
    days = (until_at - now).total_seconds() / 86400
    if days > max_days:
        raise ExperimentTooLong(
            f"the experiment would run {days:g} days (until {until_at.isoformat()}), over the "
            f"policy's cap of {max_days:g} days (experiments.max_duration_days)"
        )
