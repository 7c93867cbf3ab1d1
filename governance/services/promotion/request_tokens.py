"""Promotion request tokens: minted from a CLI session, consumed once by the flow run."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta
from typing import Any

from governance.bootstrap import Governance
from governance.domain.audit import canonical_json, format_ts
from governance.domain.errors import InvalidInput, RequesterNotVerified
from governance.domain.identity import VerifiedActor, canonical_name
from governance.domain.models import LifecycleStage
from governance.domain.run_parameters import check_unchanged, parameters_digest
from governance.keyring import Keyring
from governance.store.people import StoredRequestToken
from governance.store.unit_of_work import Transaction

TOKEN_PURPOSE = "request-token"
METHODS = ("totp", "none")


def _token_mac(keyring: Keyring, row: StoredRequestToken, method: str) -> str:
    """The MAC binding a request token to its person, subject, expiry and how it was verified."""
    message = canonical_json(
        {
            "id": row.id,
            "person": row.person,
            "model": row.model_name,
            "version": row.version,
            "target": row.target_stage,
            "expires_at": format_ts(row.expires_at),
            "method": method,
            "parameters": None if row.parameters is None else parameters_digest(row.parameters),
        }
    )
    return keyring.mac(TOKEN_PURPOSE, message)


def mint_request_token(
    gov: Governance,
    actor: VerifiedActor,
    *,
    model: str,
    version: str,
    target: str,
    now: datetime,
    ttl_seconds: float = 900,
    parameters: dict[str, Any] | None = None,
) -> str:
    """A short-lived, single-use token that lets one flow run act for `actor`; audited.

    `parameters` are the run's parameters as submitted: the MAC covers their digest, and the
    run that presents the token must carry exactly these.
    """
    if actor.method == "oidc":
        # A request token vouches that a one-time code stood behind the request; a single
        # sign-on session has none, so it would only be refused later, in the flow run.
        raise RequesterNotVerified(
            f"requester not verified: {actor.name}'s session was opened by single sign-on; a "
            f"promotion is requested from a session opened with a one-time code "
            f"(`governance login {actor.name} --code CODE`)"
        )
    stage = _stage(target)
    if not 0 < len(model) <= 128 or not 0 < len(version) <= 64:
        raise InvalidInput(
            "a request token needs a model name of 1 to 128 characters and a version of 1 to 64"
        )
    if not ttl_seconds > 0:
        raise InvalidInput("a request token's lifetime must be more than 0 seconds")
    row = StoredRequestToken(
        id=str(uuid.uuid4()),
        person=canonical_name(actor.name),
        model_name=model,
        version=version,
        target_stage=stage,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        parameters=parameters,
    )
    with gov.store.write() as tx:
        tx.people.add_request_token(row)
        tx.audit.append(
            "request_token.issued",
            actor=row.person,
            now=now,
            model=model,
            version=version,
            details={
                "token_id": row.id,
                "target_stage": stage,
                "expires_at": format_ts(row.expires_at),
                "method": actor.method,
                "parameters_digest": None if parameters is None else parameters_digest(parameters),
            },
        )
    return f"{row.id}.{_token_mac(gov.keyring, row, actor.method)}"


def _stage(target: str) -> str:
    try:
        return LifecycleStage(target).value
    except ValueError:
        stages = ", ".join(stage.value for stage in LifecycleStage)
        raise InvalidInput(f"unknown stage {target!r}: expected one of {stages}") from None


def consume_request_token_in(
    tx: Transaction,
    token: str | None,
    *,
    model: str,
    version: str,
    target: str,
    flow_run_id: str,
    now: datetime,
    run_parameters: dict[str, Any] | None = None,
) -> VerifiedActor:
    """The requester a token vouches for, marking it used by this flow run (re-presentable).

    A token minted with parameters vouches only for a run that carries exactly those
    (`run_parameters`): ParametersChanged names any that differ.
    """

    def refuse(why: str) -> RequesterNotVerified:
        return RequesterNotVerified(f"requester not verified: {why}")

    target = getattr(target, "value", target)
    if not token:
        raise refuse("the run carries no request token (start it with `governance promote`)")
    if not isinstance(token, str) or not token.isascii():
        raise refuse("the request token is malformed")
    token_id, _, mac = token.partition(".")
    if not mac or len(token_id) > 36:
        raise refuse("the request token is malformed")
    row = tx.people.find_request_token(token_id)
    if row is None:
        raise refuse("the request token is unknown")
    method = next(
        (m for m in METHODS if hmac.compare_digest(_token_mac(tx.keyring, row, m), mac)), None
    )
    if method is None:
        raise refuse("the request token's MAC does not match (tampered)")
    wanted = (model, version, target)
    if (row.model_name, row.version, row.target_stage) != wanted:
        raise refuse(
            f"the request token is for {row.model_name} {row.version} -> {row.target_stage}, "
            f"not {model} {version} -> {target}"
        )
    actor = VerifiedActor(name=row.person, method=method)
    if row.parameters is not None:
        check_unchanged(row.parameters, run_parameters or {}, "it was submitted")
    if row.used_at is not None:
        # The flow re-executes from the top after each resume and presents its token again.
        if row.flow_run_id == flow_run_id:
            return actor
        raise refuse(f"the request token was already used by flow run {row.flow_run_id}")
    if row.expires_at <= now:
        raise refuse(f"the request token expired at {row.expires_at.isoformat(timespec='seconds')}")
    if not tx.people.use_request_token(row.id, flow_run_id=flow_run_id, now=now):
        raise refuse("the request token was already used by another flow run")
    tx.audit.append(
        "request_token.used",
        actor=row.person,
        now=now,
        model=model,
        version=version,
        details={"token_id": row.id, "target_stage": target, "flow_run_id": flow_run_id},
    )
    return actor
