"""retire-deprecated (daily): deprecated versions past their sunset are retired and removed
from every routing spec (flags, idle blue/green slots, A/B arms included), approval
requests past their deadline are expired with their suspended runs (no live process needed),
and break-glass retro-reviews still open are listed until they are closed. A version that
is an endpoint's only stable version is held back, and listed, unless a lead accepted the
outage."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows import clock
from flows.promotion_runs import expire_overdue
from governance.bootstrap import open_governance
from governance.services.promotion import approval_queue
from governance.services.rollout import withdrawal


@flow(name="retire-deprecated")
def retire_deprecated() -> dict[str, int]:
    """Retire what passed its sunset (and take it out of routing), expire overdue requests.

    The rules read flows.clock (the real clock; no parameter can move it). The audit trail
    records the wall-clock time it happened.
    """
    gov = open_governance()
    wall = datetime.now(UTC)
    now = clock.now()
    try:
        retired = withdrawal.retire_past_sunset(gov, now=wall, as_of=now)
        held = withdrawal.held_past_sunset(gov, now)
        expired = expire_overdue(gov, now)
        reviews = approval_queue.open_retro_reviews(gov)
    finally:
        gov.close()
    rows = [
        *({"what": "retired", "subject": v.ref} for v in retired),
        *(
            {
                "what": "held past its sunset: the only version of "
                f"{', '.join(alone)} (promote a successor, or a lead accepts the outage)",
                "subject": v.ref,
            }
            for v, alone in held
        ),
        *(
            {"what": "request expired", "subject": f"{r.model_name}@{r.version} ({r.id})"}
            for r in expired
        ),
        *(
            {"what": "retro-review still open", "subject": f"{r.model_name}@{r.version} ({r.id})"}
            for r in reviews
        ),
    ]
    if rows:
        create_table_artifact(rows, key="retire-deprecated", description="housekeeping sweep")
    get_run_logger().info(
        "retired %d versions, expired %d requests, %d retro-reviews open",
        len(retired),
        len(expired),
        len(reviews),
    )
    return {"retired": len(retired), "expired": len(expired), "open_retro_reviews": len(reviews)}
