"""The roster as it stands: the policy file's roster with the admins' recorded role changes.

An admin grants and revokes roles through the server; each change is an audit event
(`person.role_granted`, `person.role_revoked`), and those events, MAC-verified, are the only
record of it. The audit trail is append-only and chained, so an overlay read from it cannot
be rolled back or deleted the way a row in a state table could, and a writer without the
key cannot forge one. The newest change of a (person, role) pair wins over the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ROLE_GRANTED = "person.role_granted"
ROLE_REVOKED = "person.role_revoked"
ROLE_EVENTS = (ROLE_GRANTED, ROLE_REVOKED)


@dataclass(frozen=True)
class RoleChange:
    """One recorded change: `role` given to (`granted`) or taken from `name`."""

    name: str
    role: str
    granted: bool


def change_of(event_type: str, details: Mapping[str, object]) -> RoleChange | None:
    """The change a role event records, or None if its details are not a change."""
    name, role = details.get("name"), details.get("role")
    if event_type not in ROLE_EVENTS or not isinstance(name, str) or not isinstance(role, str):
        return None
    return RoleChange(name=name, role=role, granted=event_type == ROLE_GRANTED)


def apply_changes(
    roster: Mapping[str, list[str]], changes: Iterable[RoleChange]
) -> dict[str, list[str]]:
    """The roster after `changes` in order; a grant to someone not in it adds them.

    A person added by a grant stays in the roster (with no roles) when every role is revoked:
    their past acts name them, and nothing is lost by keeping the name.
    """
    result = {name: list(roles) for name, roles in roster.items()}
    for change in changes:
        roles = result.setdefault(change.name, [])
        if change.granted and change.role not in roles:
            roles.append(change.role)
        elif not change.granted and change.role in roles:
            roles.remove(change.role)
    return result
