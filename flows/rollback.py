"""rollback: an endpoint back to its previous routing (or a deprecated version) at once.

Started from the Prefect UI or an automation. The lead proves who they are in a form the
run suspends for (name and one-time code), never in a parameter: a run's parameters stay
readable through the API for as long as the run exists. The code is spent when the flow
reads it, whether or not the rollback is allowed, and the answer is deleted from the run's
input once read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.states import Completed, Failed, State
from pydantic import Field

from flows.approval import forget_answer
from governance.bootstrap import open_governance
from governance.domain.errors import GovernanceError
from governance.domain.identity import CODE_PATTERN, MAX_NAME, NAME_PATTERN
from governance.services.rollout import endpoint_rollback
from governance.services.trust import identity, spent_codes

IDENTITY_KEY = "rollback-identity"
# The form waits this long for the lead who started the run; then the server fails it.
FORM_TIMEOUT_SECONDS = 900


class RollbackInput(RunInput):
    """Who rolls back: an ml_lead and the code their authenticator shows now."""

    approver: str = Field(
        title="ml_lead",
        min_length=1,
        max_length=MAX_NAME,
        pattern=NAME_PATTERN,
        description="Your name as it appears in the roster (you must be an ml_lead).",
    )
    code: str = Field(
        default="",
        title="One-time code",
        pattern=f"^$|{CODE_PATTERN}",
        description="The 6-digit code your authenticator app shows now (empty under "
        "`identity: none`).",
    )


@flow(name="rollback", persist_result=True)
def rollback(endpoint: str, to: str | None = None, reason: str = "") -> State:
    """Ask the lead for their code, then roll the endpoint back; ends RolledBack or Refused."""
    wanted = RollbackInput.with_initial_data(
        description=f"## Roll back `{endpoint}`" + (f" to {to}" if to else "") + f"\n\n{reason}"
    )
    answer = suspend_flow_run(wait_for_input=wanted, key=IDENTITY_KEY, timeout=FORM_TIMEOUT_SECONDS)
    gov = open_governance()
    try:
        now = datetime.now(UTC)
        try:
            person = identity.verify_code(gov, answer.approver, answer.code, now=now)
            spec = endpoint_rollback.rollback_endpoint(
                gov, endpoint, to=to, actor=person, reason=reason, now=now
            )
        except GovernanceError as exc:
            # Refused or not, the code was readable in the run input: it is spent.
            spent_codes.spend_code(gov, answer.approver, answer.code, now=now)
            return Failed(name="Refused", message=str(exc))
    finally:
        forget_answer(IDENTITY_KEY)
        gov.close()
    return Completed(
        name="RolledBack",
        message=f"{endpoint} now at spec {spec.number}: stable {spec.spec.stable}",
    )
