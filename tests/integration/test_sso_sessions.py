"""SSO sessions in the trust context, on real SQLite and PostgreSQL.

An SSO session identifies its person but is not code-verified: the approval still asks the
approver's fresh one-time code (step-up), exactly as for a code session, and a promotion is
requested only from a code session. How a session was opened is sealed into its row's MAC.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from governance.domain.errors import (
    InvalidCode,
    NotEnrolled,
    NotInRoster,
    NotLoggedIn,
    RequesterNotVerified,
)
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.services.promotion import approval_requests, decisions, request_tokens
from governance.services.trust import audit, identity, sso
from governance.services.trust.session_rows import sealed_method, session_id_of
from governance.store.tables_trust import cli_sessions

ISSUER = "https://idp.example.org"


def _open(gov, name, now):
    subject = f"sub-{name.strip().lower()}"
    return sso.open_sso_session(gov, name, issuer=ISSUER, subject=subject, now=now)


def test_an_sso_session_names_its_person_but_is_not_code_verified(gov, codes, now):
    ticket = _open(gov, "  Carol ", now)

    actor = identity.session_actor(gov, ticket.token, now=now + timedelta(minutes=1))

    assert actor == VerifiedActor(name="carol", method="oidc") and not actor.verified
    assert ticket.expires_at == now + timedelta(hours=8)
    (event,) = audit.history(gov, event_type="person.logged_in")
    assert event.actor == "carol"
    assert event.details == {
        "name": "carol",
        "session": session_id_of(ticket.token),
        "expires_at": "2026-11-23T20:00:00.000000Z",
        "method": "oidc",
        "issuer": ISSUER,
        "subject": "sub-carol",
    }
    # A code session of the same person is still "totp".
    code_ticket = identity.login(gov, "carol", codes("carol"), now=now)
    assert identity.session_actor(gov, code_ticket.token, now=now).method == "totp"


def test_the_method_is_sealed_in_the_row(gov, codes, now):
    ticket = _open(gov, "carol", now)
    with gov.store.read() as tx:
        row = tx.people.find_session(session_id_of(ticket.token))
    assert sealed_method(gov.keyring, row) == "oidc"
    # A writer without the key cannot re-seal it as a code session: moving its expiry (or
    # anything the MAC covers) makes it not genuine under either method.
    with gov.store.engine.begin() as conn:
        conn.execute(
            sa.update(cli_sessions)
            .where(cli_sessions.c.id == row.id)
            .values(expires_at=row.expires_at + timedelta(days=30))
        )
    with pytest.raises(NotLoggedIn, match="is not genuine"):
        identity.session_actor(gov, ticket.token, now=now)


def test_an_approval_from_an_sso_session_still_needs_a_fresh_code(gov, codes, now, staged_run):
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=LifecycleStage.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged_run.id,
        now=now,
    )
    actor = identity.session_actor(gov, _open(gov, "carol", now).token, now=now)
    assert actor.method == "oidc"

    def decide(code: str):
        return decisions.decide(
            gov,
            request_id=request.id,
            approver=actor.name,
            role="ml_lead",
            decision="approve",
            code=code,
            now=now,
        )

    with pytest.raises(InvalidCode, match="one-time code for carol is missing"):
        decide("")
    (refused,) = approval_requests.refused_attempts(gov, request.id)
    assert (refused.approver, refused.error) == ("carol", "InvalidCode")
    assert approval_requests.get_request(gov, request.id).approvals == []

    decided = decide(codes("carol"))

    (decision,) = decided.approvals
    assert (decision.approver, decision.role, decision.verified) == ("carol", "ml_lead", True)
    (event,) = audit.history(gov, event_type="approval.decided")
    assert event.details["verified"] is True


def test_a_promotion_is_not_requested_from_an_sso_session(gov, codes, now):
    actor = identity.session_actor(gov, _open(gov, "alice", now).token, now=now)

    with pytest.raises(RequesterNotVerified, match="session was opened by single sign-on"):
        request_tokens.mint_request_token(
            gov, actor, model="churn", version="1.1.0", target="production", now=now
        )
    assert audit.history(gov, event_type="request_token.issued") == []


@pytest.mark.parametrize(
    ("claimed", "error", "words"),
    [
        ("mallory", NotInRoster, "mallory is not in the policy roster"),
        ("heidi", NotEnrolled, "heidi has no authenticator"),
    ],
)
def test_no_session_for_a_stranger_or_an_unenrolled_person(gov, now, claimed, error, words):
    identity.enroll(gov, "carol", actor="test-setup", now=now)

    with pytest.raises(error, match=words):
        _open(gov, claimed, now)

    assert audit.history(gov, event_type="person.logged_in") == []
    with gov.store.read() as tx:
        assert tx.conn.execute(sa.select(sa.func.count()).select_from(cli_sessions)).scalar() == 0


def test_a_refusal_is_recorded_without_secrets(gov, now):
    sso.record_refusal(
        gov,
        reason="nonce",
        error="the ID token's nonce is not the one this login sent",
        issuer=ISSUER,
        subject="sub-carol",
        claimed="Carol",
        now=now,
    )
    sso.record_refusal(gov, reason="state", error="x" * 1000, issuer=ISSUER, now=now)

    first, second = audit.history(gov, event_type="person.sso_refused")
    assert first.actor == "carol" and first.details["reason"] == "nonce"
    assert first.details["claimed"] == "Carol" and first.details["subject"] == "sub-carol"
    assert second.actor == "anonymous" and len(second.details["message"]) == 301
