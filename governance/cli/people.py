"""`governance people ...`, `governance login` and `governance logout` (verified identities)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

import segno
import typer
from rich.table import Table

from governance.cli.context import (
    acting_name,
    clear_session,
    console,
    current_actor,
    governance,
    now,
    prepare_session_dir,
    save_session,
    session_token,
)
from governance.config import load_settings
from governance.domain.errors import IdentityError, NotInRoster, SeparationOfDuties
from governance.domain.identity import NOT_VERIFIED, VerifiedActor, canonical_name
from governance.services.trust import code_locks, identity, people_admin

app = typer.Typer(help="Roster people and their authenticators.", no_args_is_help=True)


def _at(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def _replacer(gov, name: str) -> VerifiedActor:
    """The verified person replacing NAME's authenticator; never NAME themselves."""
    actor = current_actor(gov)
    if actor.name == canonical_name(name):
        raise SeparationOfDuties(
            f"{actor.name} cannot replace their own authenticator: another logged-in person must"
        )
    return actor


def _enroller(gov) -> VerifiedActor | str:
    """The logged-in person, else the host operator (who may enrol only until an admin is)."""
    try:
        return current_actor(gov)
    except (IdentityError, NotInRoster):
        return acting_name(gov)


@app.command("enroll")
def enroll(
    name: str,
    replace: Annotated[
        bool, typer.Option("--replace", help="issue a new secret to someone already enrolled")
    ] = False,
) -> None:
    """Create a TOTP authenticator for a roster person and show it as a QR code and a URI.

    Once an admin is enrolled, only a logged-in admin enrols (before that, the host
    operator does). Replacing one is a takeover if done carelessly, so it needs a logged-in
    person other than the one whose authenticator is replaced.
    """
    gov = governance()
    actor = _replacer(gov, name) if replace else _enroller(gov)
    made = identity.enroll(gov, name, actor=actor, now=now(), replace=replace)
    qr = io.StringIO()
    segno.make(made.uri).terminal(out=qr, compact=True)
    again = " (the previous authenticator no longer works)" if replace else ""
    console.print(f"enrolled {made.name}{again}; scan this with an authenticator app:")
    console.out(qr.getvalue(), highlight=False, end="")
    console.out(made.uri, highlight=False)
    console.out(f"secret for manual entry: {made.secret}", highlight=False)


@app.command("list")
def list_people() -> None:
    """List the roster: roles, who is enrolled since when, and whose codes are locked."""
    gov = governance()
    records = identity.people(gov, now=now())
    unverified = gov.policy.identity == "none"
    table = Table(
        "name", "roles", "enrolled", "enrolled at", "enrolled by", "codes", title="people"
    )
    for person in records:
        locked = person.codes_locked_until
        table.add_row(
            person.name,
            ", ".join(person.roles) or "-",
            "yes" if person.enrolled_at else "no",
            _at(person.enrolled_at) if person.enrolled_at else "-",
            person.enrolled_by or "-",
            f"locked until {_at(locked)}" if locked else "-",
        )
    console.print(table)
    if unverified:
        console.print(f"policy identity: none ({NOT_VERIFIED})")


@app.command("grant")
def grant(name: str, role: str) -> None:
    """Give NAME a role in the roster (adding them if they are not in it); an admin's act."""
    gov = governance()
    people_admin.grant(gov, name, role, actor=current_actor(gov), now=now())
    console.print(f"granted {role.strip().casefold()} to {canonical_name(name)}")


@app.command("revoke-role")
def revoke_role(name: str, role: str) -> None:
    """Take a role from NAME, unless the roster could then not staff the approval rules."""
    gov = governance()
    people_admin.revoke_role(gov, name, role, actor=current_actor(gov), now=now())
    console.print(f"revoked {role.strip().casefold()} from {canonical_name(name)}")


@app.command("revoke-sessions")
def revoke_sessions(name: str) -> None:
    """End every live session of NAME (a lost laptop, a departure); an admin's act."""
    gov = governance()
    ended = people_admin.revoke_sessions(gov, name, actor=current_actor(gov), now=now())
    console.print(f"revoked {ended} live session(s) of {canonical_name(name)}")


@app.command("unlock")
def unlock(name: str) -> None:
    """Lift the lock on NAME's codes before it ends; an admin's act."""
    gov = governance()
    until = code_locks.unlock(gov, name, actor=current_actor(gov), now=now())
    console.print(f"unlocked the codes of {canonical_name(name)} (locked until {_at(until)})")


def login(
    name: str,
    code: Annotated[
        str | None, typer.Option("--code", help="the one-time code from your authenticator")
    ] = None,
    hours: Annotated[float, typer.Option("--hours", help="how long the session lasts")] = 8,
) -> None:
    """Open a CLI session as NAME with a one-time code."""
    gov = governance()
    path = gov.settings.resolved_session_file
    # Before the code is spent, so an unwritable session file refuses with nothing changed.
    prepare_session_dir(path)
    when, previous = now(), session_token(path)
    ticket = identity.login(gov, name, code, now=when, hours=hours)
    save_session(path, ticket)
    # The session this one replaces would otherwise stay live, unreachable, until it expires.
    identity.logout(gov, previous, now=when)
    unverified = gov.policy.identity == "none"
    note = f" ({NOT_VERIFIED})" if unverified else ""
    console.print(f"logged in as {ticket.person} until {_at(ticket.expires_at)}{note}")


def logout() -> None:
    """End the CLI session."""
    path = load_settings().resolved_session_file
    token = session_token(path)
    if token is None:
        clear_session(path)
        console.print("not logged in")
        return
    try:
        person = identity.logout(governance(), token, now=now())
    finally:
        # The token exists nowhere else, so deleting the file ends the session even if the
        # database could not be told.
        clear_session(path)
    console.print(f"logged out {person}" if person else "the session had already ended")
