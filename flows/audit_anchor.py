"""audit-anchor: sign the audit chain head and its event count, and write it outside the database.

Hourly by default; GOVERNANCE_ANCHOR_INTERVAL_SECONDS anchors more often (deployments/).

Ends Anchored, or Failed named after the error (ChainBroken, SignatureInvalid, ...) so an
automation can page someone when anchored history no longer matches the table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.states import Completed, Failed, State

from governance.bootstrap import open_governance
from governance.domain.errors import GovernanceError
from governance.services.trust import audit


@flow(name="audit-anchor")
def audit_anchor() -> State:
    """Verify the events since the newest anchor, then write a signed checkpoint of the head."""
    try:
        gov = open_governance()
        try:
            path, signed = audit.anchor(gov, now=datetime.now(UTC))
        finally:
            gov.close()
    except GovernanceError as exc:
        return Failed(name=type(exc).__name__, message=str(exc))
    message = (
        f"checkpoint of event {signed.seq} ({signed.hash[:16]}, {signed.events} events)"
        f" written to {path}"
    )
    return Completed(name="Anchored", message=message)
