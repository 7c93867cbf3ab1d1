"""rollback: an endpoint back to its previous routing (or a deprecated version) at once.

Started from the Prefect UI or an automation; the person proves who they are with a
one-time code, as on the CLI (`governance rollback ENDPOINT`), and must be an ml_lead.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.states import Completed, Failed, State

from governance.bootstrap import open_governance
from governance.domain.errors import GovernanceError
from governance.services.rollout import endpoint_rollback
from governance.services.trust import identity


@flow(name="rollback")
def rollback(
    endpoint: str, approver: str, code: str, to: str | None = None, reason: str = ""
) -> State:
    """Roll the endpoint back as the verified approver; ends RolledBack or Refused."""
    gov = open_governance()
    try:
        now = datetime.now(UTC)
        person = identity.verify_code(gov, approver, code, now=now)
        spec = endpoint_rollback.rollback_endpoint(
            gov, endpoint, to=to, actor=person, reason=reason, now=now
        )
    except GovernanceError as exc:
        return Failed(name="Refused", message=str(exc))
    finally:
        gov.close()
    return Completed(
        name="RolledBack",
        message=f"{endpoint} now at spec {spec.number}: stable {spec.spec.stable}",
    )
