"""Composition root: settings -> engine, store, artifact store and policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine

from governance.config import Settings, load_policy, load_settings
from governance.domain.identity import NOT_VERIFIED
from governance.keyring import Keyring
from governance.ml.artifacts import ArtifactStore
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

    def __post_init__(self) -> None:
        self.keyring = Keyring(self.settings.resolved_secret_key_file)
        self.store = Store(self.engine, self.keyring, self._identity_note)
        self.artifacts = ArtifactStore(
            self.settings.resolved_artifact_root, trusted_types=self.settings.trusted_types
        )

    @cached_property
    def policy(self):
        """The validated policy file (loaded on first use)."""
        return load_policy(self.settings.resolved_policy_file)

    def _identity_note(self) -> str | None:
        """What every audit event says about identities: nothing, unless they are off."""
        return NOT_VERIFIED if self.policy.identity == "none" else None

    def reload_policy(self) -> None:
        """Forget the cached policy so the next use reads the file again."""
        self.__dict__.pop("policy", None)

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
