"""retire-deprecated (daily): deprecated versions past their sunset are retired, and approval
requests past their deadline are expired with their suspended runs, with no live process."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.promotion_runs import expire_overdue
from governance.bootstrap import open_governance
from governance.services import registry


@flow(name="retire-deprecated")
def retire_deprecated() -> dict[str, int]:
    """Retire what passed its sunset and expire overdue approval requests; report both."""
    gov = open_governance()
    now = datetime.now(UTC)
    try:
        retired = registry.retire_past_sunset(gov, now=now)
        expired = expire_overdue(gov, now)
    finally:
        gov.close()
    rows = [{"what": "retired", "subject": v.ref} for v in retired] + [
        {"what": "request expired", "subject": f"{r.model_name}@{r.version} ({r.id})"}
        for r in expired
    ]
    if rows:
        create_table_artifact(rows, key="retire-deprecated", description="housekeeping sweep")
    get_run_logger().info("retired %d versions, expired %d requests", len(retired), len(expired))
    return {"retired": len(retired), "expired": len(expired)}
