"""Who asked for a promotion run: the person its request token was minted for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.bootstrap import Governance
from governance.domain.errors import (
    GovernanceError,
    NotInRoster,
    RequesterNotVerified,
)
from governance.domain.identity import VerifiedActor, canonical_name
from governance.services.promotion import request_tokens


def verify_requester(
    gov: Governance,
    *,
    token: str | None,
    requested_by: str,
    model: str,
    version: str,
    target: str,
    flow_run_id: str,
    now: datetime,
    token_model: str | None = None,
    refused_event: str = "promotion.refused",
    run_parameters: dict[str, Any] | None = None,
) -> VerifiedActor:
    """Who asked for this run: the person its request token was minted for (consumed once).

    Under `identity: none` the typed `requested_by` is taken, canonical and from the roster.
    `run_parameters` are the run's parameters now, compared with those the token was minted
    for. A refusal is audited as `refused_event` before it is raised. `token_model` is the subject
    the token names when it is not `model` (a prompt's, kept apart from a model's name).
    """
    policy = gov.policy
    refusal: GovernanceError | None = None
    with gov.store.write() as tx:
        try:
            if policy.identity == "none":
                name = canonical_name(requested_by)
                if name not in policy.roster:
                    raise NotInRoster(f"requester {name} is not in the policy roster")
                return VerifiedActor(name=name, method="none")
            actor = request_tokens.consume_request_token_in(
                tx,
                token,
                model=token_model or model,
                version=version,
                target=target,
                flow_run_id=flow_run_id,
                now=now,
                run_parameters=run_parameters,
            )
            if not actor.verified:
                # Minted while the policy said `identity: none`; it says totp now.
                raise RequesterNotVerified(
                    f"requester not verified: {actor.name}'s token was minted without a code"
                )
            return actor
        except GovernanceError as exc:
            refusal = exc
            tx.audit.append(
                refused_event,
                actor="system",
                now=now,
                model=model,
                version=version,
                details={"target_stage": target, "flow_run_id": flow_run_id, "reason": str(exc)},
            )
    raise refusal
