"""Serve the deployments of prefect.yaml from this process (local use, no work pool)."""

from __future__ import annotations

from prefect import serve

from deployments.anchor_schedule import anchor_schedule
from flows.ab_test import ab_test
from flows.audit_anchor import audit_anchor
from flows.promote_model import promote_model
from flows.promote_prompt import promote_prompt
from flows.retire_deprecated import retire_deprecated
from flows.retirement_audit import retirement_audit_flow
from flows.retirement_review import retirement_review_flow
from flows.rollback import rollback
from flows.rollout_watchdog import rollout_watchdog
from governance.config import load_settings
from governance.domain.retirement import RETIREMENT_AUDIT_CRON

# name -> (flow, cron schedule or None); the same deployments as prefect.yaml. audit-anchor's
# schedule comes from GOVERNANCE_ANCHOR_INTERVAL_SECONDS (hourly by default) when served.
DEPLOYMENTS = {
    "promote-model": (promote_model, None),
    "promote-prompt": (promote_prompt, None),
    "audit-anchor": (audit_anchor, "0 * * * *"),
    "retire-deprecated": (retire_deprecated, "30 1 * * *"),
    "ab-test": (ab_test, None),
    "rollback": (rollback, None),
    "rollout-watchdog": (rollout_watchdog, "*/5 * * * *"),
    "retirement-audit": (retirement_audit_flow, RETIREMENT_AUDIT_CRON),
    "retirement-review": (retirement_review_flow, None),
}


def schedules() -> dict[str, dict]:
    """Each deployment's schedule keywords for `to_deployment`, settings applied."""
    found = {name: {"cron": cron} for name, (_, cron) in DEPLOYMENTS.items()}
    found["audit-anchor"] = anchor_schedule(load_settings().anchor_interval_seconds)
    return found


def main() -> None:
    """Register and serve every deployment until interrupted."""
    when = schedules()
    serve(
        *(
            flow.to_deployment(name=name, tags=["governance"], **when[name])
            for name, (flow, _) in DEPLOYMENTS.items()
        ),
        print_starting_message=True,
    )


if __name__ == "__main__":
    main()
