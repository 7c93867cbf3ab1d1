"""rollout-watchdog (every 5 minutes): abandoned canaries roll back; idle blue/green slots,
warm past the policy's scale-down delay, are emptied."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from governance.bootstrap import open_governance
from governance.services.prompts import prompt_canary
from governance.services.rollout import watchdog


@flow(name="rollout-watchdog")
def rollout_watchdog() -> dict[str, int]:
    """Roll back canaries whose controlling run is gone; scale down old blue/green slots."""
    gov = open_governance()
    now = datetime.now(UTC)
    try:
        abandoned = watchdog.abandon_stale(gov, now)
        prompts = prompt_canary.abandon_stale_prompts(gov, now)
        emptied = watchdog.scale_down_idle(gov, now)
    finally:
        gov.close()
    rows = [
        *(
            {
                "what": "canary abandoned, rolled back",
                "subject": f"{r.model_name}@{r.version} on {r.endpoint} (run {r.flow_run_id})",
            }
            for r in abandoned
        ),
        *(
            {
                "what": "prompt canary abandoned, rolled back",
                "subject": f"{r.prompt_id}@{r.candidate_version} (request {r.request_id})",
            }
            for r in prompts
        ),
        *({"what": "idle slot scaled down", "subject": name} for name in emptied),
    ]
    if rows:
        create_table_artifact(rows, key="rollout-watchdog", description="rollout watchdog sweep")
    get_run_logger().info(
        "%d canaries and %d prompt canaries abandoned, %d slots scaled down",
        len(abandoned),
        len(prompts),
        len(emptied),
    )
    return {
        "abandoned": len(abandoned),
        "prompts_abandoned": len(prompts),
        "scaled_down": len(emptied),
    }
