"""The audit-anchor deployment's schedule, from GOVERNANCE_ANCHOR_INTERVAL_SECONDS.

Anchoring more often shortens the window in which someone who dropped the audit trigger
can delete the newest events unnoticed (docs/design.md, "The window that remains").
`deployments/serve.py` schedules audit-anchor with it; after `prefect deploy --all` (whose
prefect.yaml keeps the hourly default), `python -m deployments.anchor_schedule` puts the
configured interval on the deployed audit-anchor.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_client
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from governance.config import load_settings

DEPLOYMENT = "audit-anchor/audit-anchor"


def anchor_schedule(seconds: int) -> dict[str, Any]:
    """`to_deployment` keywords: a wall-clock cron when the interval divides an hour or a
    day evenly (anchors on the minute, e.g. :00, :05), else a plain interval."""
    minutes, hours = seconds // 60, seconds // 3600
    if seconds % 3600 == 0 and 24 % hours == 0:
        every = {1: "*", 24: "0"}.get(hours, f"*/{hours}")
        return {"cron": f"0 {every} * * *"}
    if seconds % 60 == 0 and 60 % minutes == 0:
        return {"cron": "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"}
    return {"interval": seconds}


def schedule_object(seconds: int) -> CronSchedule | IntervalSchedule:
    """The same schedule as a Prefect schedule object, for the API."""
    found = anchor_schedule(seconds)
    if "cron" in found:
        return CronSchedule(cron=found["cron"], timezone="UTC")
    return IntervalSchedule(interval=timedelta(seconds=found["interval"]))


def main() -> None:
    """Replace the deployed audit-anchor's schedules with the configured interval."""
    seconds = load_settings().anchor_interval_seconds
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        for old in client.read_deployment_schedules(deployment.id):
            client.delete_deployment_schedule(deployment.id, old.id)
        client.create_deployment_schedules(deployment.id, [(schedule_object(seconds), True)])
    print(f"{DEPLOYMENT}: {anchor_schedule(seconds)}")


if __name__ == "__main__":
    main()
