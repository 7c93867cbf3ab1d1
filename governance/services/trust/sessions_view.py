"""The admin's list of live sessions: who is logged in, since and until when.

A row alone is a claim (session_rows.py): a session is listed only when its row carries the
MAC `login` made and the trail says it has not ended, exactly the check a request passes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from governance.bootstrap import Governance
from governance.domain.identity import VerifiedActor
from governance.services.trust.roles import ADMIN_ROLE, require_role
from governance.services.trust.session_rows import ended_in_trail, is_genuine


class LiveSession(BaseModel):
    """A live session: its person, when it opened and expires, and a short id (of the hash)."""

    person: str
    created_at: datetime
    expires_at: datetime
    # The first characters of the sha256 of the token: it names the row, it opens nothing.
    short_id: str


def live_sessions(gov: Governance, *, actor: VerifiedActor, now: datetime) -> list[LiveSession]:
    """Every genuine, open, unexpired session at `now`, newest first; an admin's read."""
    require_role(gov, actor, ADMIN_ROLE, "listing the live sessions")
    live = []
    with gov.store.read() as tx:
        for session in tx.people.open_sessions(now):
            if not is_genuine(gov.keyring, session) or ended_in_trail(tx, session) is not None:
                continue
            live.append(
                LiveSession(
                    person=session.person,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                    short_id=session.id[:12],
                )
            )
    return live
