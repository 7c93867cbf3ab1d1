"""Composition root: settings -> engine, store, artifact store and policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from governance.config import Settings, load_policy, load_settings
from governance.domain.audit import MAC_PURPOSE, authentic
from governance.domain.errors import ConfigError
from governance.domain.identity import NOT_VERIFIED
from governance.domain.policy import Policy
from governance.domain.policy_history import POLICY_LOADED, loaded_details
from governance.domain.roster_changes import ROLE_EVENTS, apply_changes, change_of
from governance.keyring import Keyring
from governance.ml.artifacts import ArtifactStore
from governance.store.audit_log import AuditLog, typed_rows
from governance.store.engine import create_store_engine
from governance.store.schema import require_current
from governance.store.unit_of_work import Store


@dataclass
class Governance:
    """Everything a service call needs, built once per process."""

    settings: Settings
    engine: Engine
    store: Store = field(init=False)
    artifacts: ArtifactStore = field(init=False)
    keyring: Keyring = field(init=False)
    # Policy versions this process has seen recorded as the trail's newest `policy.loaded`.
    _recorded_policies: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.keyring = Keyring(self.settings.resolved_secret_key_file)
        self.store = Store(self.engine, self.keyring, self._identity_note, self._record_policy)
        self.artifacts = ArtifactStore(
            self.settings.resolved_artifact_root, trusted_types=self.settings.trusted_types
        )

    @cached_property
    def file_policy(self) -> Policy:
        """The validated policy file (loaded on first use), without the admins' role changes."""
        return load_policy(self.settings.resolved_policy_file)

    @property
    def policy(self) -> Policy:
        """The policy in force: the file, its roster changed by the recorded role changes.

        Read once and kept until `refresh_roster` (every session check calls it, so each
        request of a server process sees the changes any process made). Its `version` stays
        the file's digest: role changes are recorded by their own events, not as a new policy.
        """
        effective = self.__dict__.get("_effective_policy")
        if effective is None:
            effective = self._with_role_changes(self.file_policy)
            self.__dict__["_effective_policy"] = effective
        return effective

    def refresh_roster(self) -> None:
        """Read the role changes again at the next use of `policy` (another process may act)."""
        self.__dict__.pop("_effective_policy", None)

    def _with_role_changes(self, policy: Policy) -> Policy:
        """The policy with the MAC-verified role events of the trail applied to its roster."""
        try:
            with self.engine.connect() as conn, conn.begin():
                return self.policy_in(conn, policy)
        except sa.exc.DBAPIError:
            # Before `init` there is no trail, hence no change; any other failure is real.
            with self.engine.connect() as conn:
                if sa.inspect(conn).has_table("audit_events"):
                    raise
            return policy

    def policy_in(self, conn: Connection, policy: Policy | None = None) -> Policy:
        """The policy in force as the trail reads on `conn` (inside a caller's transaction)."""
        policy = policy or self.file_policy
        rows = typed_rows(conn, ROLE_EVENTS)
        if not rows:
            return policy
        try:
            key = self.keyring.derive(MAC_PURPOSE)
        except ConfigError as exc:
            raise ConfigError(
                f"the roster's recorded role changes cannot be checked: {exc}"
            ) from None
        # An event that fails its MAC was not written by a key holder: it changes nothing
        # (and `audit verify` names it).
        found = [change_of(row[3], json.loads(row[7])) for row in rows if authentic(row, key)]
        roster = apply_changes(policy.roster, [c for c in found if c is not None])
        return policy.model_copy(update={"roster": roster})

    def _identity_note(self) -> str | None:
        """What every audit event says about identities: nothing, unless they are off."""
        return NOT_VERIFIED if self.file_policy.identity == "none" else None

    def _record_policy(self, audit: AuditLog, now: datetime) -> None:
        """Before a transaction's first event, make sure the trail names the policy in force.

        Unless the newest `policy.loaded` event is of this version, one is appended with the
        version's content and its differences from that event's. Once the newest is seen to
        be ours (committed), this process stops asking for that version: one query a write
        until then, none after.
        """
        # The file, as its digest names it: role changes are events of their own.
        policy = self.file_policy
        if policy.version in self._recorded_policies:
            return
        latest = audit.latest(POLICY_LOADED)
        if latest is not None and latest.details.get("digest") == policy.version:
            self._recorded_policies.add(policy.version)
            return
        details = loaded_details(policy, latest.details if latest else None)
        audit.append(POLICY_LOADED, actor="system", now=now, details=details)

    def reload_policy(self) -> None:
        """Forget the cached policy so the next use reads the file again."""
        self.__dict__.pop("file_policy", None)
        self.refresh_roster()
        # An edit back to an earlier version is a change the trail must show again.
        self._recorded_policies.clear()

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def open_governance(settings: Settings | None = None, *, check_schema: bool = True) -> Governance:
    """Connect to the configured database; refuse if it is unreachable or not initialised."""
    settings = settings or load_settings()
    engine = create_store_engine(
        settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    if check_schema:
        try:
            require_current(engine)
        except Exception:
            engine.dispose()
            raise
    return Governance(settings=settings, engine=engine)
