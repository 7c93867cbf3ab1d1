"""Repository for enrolled people, CLI sessions and promotion request tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from governance.store.tables_promotion import request_tokens
from governance.store.tables_trust import cli_sessions, people

pc, sc, tc = people.c, cli_sessions.c, request_tokens.c


class EnrolledPerson(BaseModel):
    """A people row; the TOTP secret stays encrypted here and is opened only by the service."""

    model_config = ConfigDict(frozen=True)

    name: str
    totp_secret: str
    enrolled_at: datetime
    enrolled_by: str
    last_used_step: int | None = None


class StoredSession(BaseModel):
    """A cli_sessions row: `id` is the sha256 of the token the user holds."""

    model_config = ConfigDict(frozen=True)

    id: str
    person: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    # HMAC of the row as `login` opened it (services/trust/session_rows.py); None: unsealed.
    mac: str | None = None


class StoredRequestToken(BaseModel):
    """A request_tokens row: who may start which promotion until when, and who used it."""

    model_config = ConfigDict(frozen=True)

    id: str
    person: str
    model_name: str
    version: str
    target_stage: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    flow_run_id: str | None = None
    parameters: dict[str, Any] | None = None


class PeopleRepository:
    """Reads and writes identity rows on the caller's connection and transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find(self, name: str) -> EnrolledPerson | None:
        """The enrolled person with this canonical name, or None."""
        row = self.conn.execute(sa.select(people).where(pc.name == name)).first()
        return EnrolledPerson.model_validate(row._asdict()) if row else None

    def enrolled(self) -> dict[str, EnrolledPerson]:
        """Every enrolled person by name."""
        rows = self.conn.execute(sa.select(people).order_by(pc.name))
        return {row.name: EnrolledPerson.model_validate(row._asdict()) for row in rows}

    def enroll(self, person: EnrolledPerson, *, replace: bool) -> None:
        """Insert a person, or overwrite their secret (and forget their last step) on replace."""
        values = person.model_dump()
        if replace:
            name = values.pop("name")
            self.conn.execute(people.update().where(pc.name == name).values(**values))
        else:
            self.conn.execute(people.insert().values(**values))

    def use_step(self, name: str, step: int) -> bool:
        """Record `step` as used; False if it is not newer than the last used one."""
        # The condition lives in the UPDATE so that two writers can never both accept a step.
        result = self.conn.execute(
            people.update()
            .where(pc.name == name)
            .where(sa.or_(pc.last_used_step.is_(None), pc.last_used_step < step))
            .values(last_used_step=step)
        )
        return result.rowcount == 1

    def add_session(self, session: StoredSession) -> None:
        """Insert a new CLI session."""
        self.conn.execute(cli_sessions.insert().values(**session.model_dump()))

    def find_session(self, session_id: str) -> StoredSession | None:
        """The session with this id (sha256 of its token), or None."""
        row = self.conn.execute(sa.select(cli_sessions).where(sc.id == session_id)).first()
        return StoredSession.model_validate(row._asdict()) if row else None

    def end_session(self, session_id: str, now: datetime) -> bool:
        """Mark a session ended; False if it had already ended."""
        result = self.conn.execute(
            cli_sessions.update()
            .where(sc.id == session_id)
            .where(sc.ended_at.is_(None))
            .values(ended_at=now)
        )
        return result.rowcount == 1

    def open_sessions(self, now: datetime) -> list[StoredSession]:
        """Sessions whose rows say neither ended nor expired at `now`, newest first."""
        rows = self.conn.execute(
            sa.select(cli_sessions)
            .where(sc.ended_at.is_(None))
            .where(sc.expires_at > now)
            .order_by(sc.created_at.desc())
        )
        return [StoredSession.model_validate(row._asdict()) for row in rows]

    def end_sessions_of(self, name: str, now: datetime) -> int:
        """End every session of a person that has neither ended nor expired; how many."""
        result = self.conn.execute(
            cli_sessions.update()
            .where(sc.person == name)
            .where(sc.ended_at.is_(None))
            .where(sc.expires_at > now)
            .values(ended_at=now)
        )
        return result.rowcount

    def add_request_token(self, token: StoredRequestToken) -> None:
        """Insert a newly minted request token."""
        self.conn.execute(request_tokens.insert().values(**token.model_dump()))

    def find_request_token(self, token_id: str) -> StoredRequestToken | None:
        """The request token with this id, or None."""
        row = self.conn.execute(sa.select(request_tokens).where(tc.id == token_id)).first()
        return StoredRequestToken.model_validate(row._asdict()) if row else None

    def use_request_token(self, token_id: str, *, flow_run_id: str, now: datetime) -> bool:
        """Mark a token used by a flow run; False if someone used it first."""
        result = self.conn.execute(
            request_tokens.update()
            .where(tc.id == token_id)
            .where(tc.used_at.is_(None))
            .values(used_at=now, flow_run_id=flow_run_id)
        )
        return result.rowcount == 1
