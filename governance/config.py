"""Settings from GOVERNANCE_* environment variables, and loading of the policy file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from governance.domain.errors import ConfigError
from governance.store.engine import DEFAULT_SQLITE_BUSY_TIMEOUT_MS

PACKAGE_ROOT = Path(__file__).resolve().parent
EXAMPLE_POLICY = PACKAGE_ROOT / "governance.example.yaml"


class Settings(BaseSettings):
    """Where the control plane keeps its state and which policy it applies."""

    model_config = SettingsConfigDict(env_prefix="GOVERNANCE_", extra="ignore")

    home: Path = Field(default=Path(".governance"), description="directory for embedded state")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite under home")
    artifact_root: Path | None = Field(default=None, description="content-addressed artifacts")
    policy_file: Path | None = Field(default=None, description="governance.yaml to apply")
    trusted_types: list[str] = Field(default_factory=list, description="extra skops types")
    secret_key_file: Path | None = Field(
        default=None, description="32-byte key outside the database (MACs, tokens, TOTP secrets)"
    )
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key that signs audit checkpoints"
    )
    anchor_dir: Path | None = Field(
        default=None, description="directory outside the database for signed checkpoints"
    )
    session_file: Path | None = Field(
        default=None, description="where `governance login` keeps the CLI session"
    )
    app_role: str = Field(
        default="",
        description="PostgreSQL role the application runs as; init (run as the owner) grants it"
        " what it needs, and no UPDATE, DELETE or TRUNCATE on audit_events",
    )
    gateway_role: str = Field(
        default="",
        description="PostgreSQL role the serving gateway runs as; init grants it SELECT on what"
        " it serves and INSERT on predictions, outcomes and prompt renders, nothing more",
    )
    auditor_role: str = Field(
        default="",
        description="read-only PostgreSQL role; init grants it SELECT on every table but the"
        " people and session rows",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
        gt=0,
        le=600_000,
        description="how long a SQLite writer waits for the lock before 'database is locked'",
    )

    anchor_interval_seconds: int = Field(
        default=3600,
        ge=60,
        le=86_400,
        description="how often the audit-anchor deployment signs the chain head (60 s to a day)",
    )

    gateway_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the serving gateway promote-model's blue/green smoke test calls",
    )
    gateway_spool_dir: Path | None = Field(
        default=None, description="gateway's prediction-log spool while the database is down"
    )
    gateway_max_body_bytes: int = Field(
        default=1 << 20, gt=0, description="largest request body the gateway accepts"
    )
    gateway_poll_seconds: float = Field(
        default=0.2, gt=0, le=5, description="how often the gateway checks for routing changes"
    )
    gateway_require_keys: bool = Field(
        default=True,
        description="predict, outcomes and prompt routes need a client key; false lets"
        " requests without one through unattributed (logged as a WARNING and in /metrics)",
    )
    gateway_key_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="how often the gateway re-reads client keys: a revoked key is refused by"
        " every gateway process within this many seconds",
    )

    server_blob_dir: Path | None = Field(
        default=None, description="where the governance server keeps uploads until a command"
    )
    server_max_upload_bytes: int = Field(
        default=512 << 20, gt=0, description="largest file the governance server accepts"
    )

    oidc_issuer: str = Field(
        default="",
        description="OpenID Connect issuer URL for the console's single sign-on (discovery at"
        " ISSUER/.well-known/openid-configuration); empty: no SSO, one-time codes only",
    )
    oidc_client_id: str = Field(default="", description="the console's client id at the issuer")
    oidc_client_secret: str = Field(
        default="", description="the console's client secret at the issuer (kept out of logs)"
    )
    oidc_name_claim: str = Field(
        default="preferred_username",
        min_length=1,
        description="the ID-token claim whose value, made canonical, is the person's roster name",
    )

    task_runner: Literal["threads", "dask"] = Field(
        default="threads", description="task runner of the retirement audit's fan-out"
    )
    task_workers: int = Field(
        default=4, gt=0, le=64, description="threads (or local Dask workers) of the fan-out"
    )
    report_worker_min_versions: int = Field(
        default=20,
        ge=0,
        description="on threads, audits of at least this many versions render drift reports in"
        " a spawned worker process; smaller ones render inline (a worker costs seconds to start)",
    )
    # Dask's own variable name, so an existing Dask deployment's setting is picked up as is.
    dask_scheduler_address: str = Field(
        default="",
        validation_alias=AliasChoices(
            "DASK_SCHEDULER_ADDRESS", "GOVERNANCE_DASK_SCHEDULER_ADDRESS"
        ),
        description="a running Dask scheduler (tcp://host:port); empty: a local cluster",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        # psycopg 3 is the only PostgreSQL driver we ship, so plain URLs must name it.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under `home`."""
        return self.database_url or f"sqlite:///{(self.home / 'governance.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> Path:
        """The artifact root, defaulting to `home/artifacts`."""
        return self.artifact_root or self.home / "artifacts"

    @property
    def resolved_secret_key_file(self) -> Path:
        """The secret key file, defaulting to `home/secret.key`."""
        return self.secret_key_file or self.home / "secret.key"

    @property
    def resolved_signing_key_file(self) -> Path:
        """The Ed25519 private key file, defaulting to `home/audit-signing.key`."""
        return self.signing_key_file or self.home / "audit-signing.key"

    @property
    def resolved_anchor_dir(self) -> Path:
        """Where audit-anchor writes signed checkpoints, defaulting to `home/anchors`."""
        return self.anchor_dir or self.home / "anchors"

    @property
    def resolved_gateway_spool_dir(self) -> Path:
        """The gateway's spool directory, defaulting to `home/spool`."""
        return self.gateway_spool_dir or self.home / "spool"

    @property
    def resolved_server_blob_dir(self) -> Path:
        """The governance server's upload directory, defaulting to `home/uploads`."""
        return self.server_blob_dir or self.home / "uploads"

    @property
    def resolved_session_file(self) -> Path:
        """The CLI session file, in the user's config directory unless set."""
        if self.session_file:
            return self.session_file
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "governance" / "session.json"

    @property
    def resolved_policy_file(self) -> Path:
        """The policy file: the configured one, ./governance.yaml, or the shipped example."""
        if self.policy_file:
            return self.policy_file
        local = Path("governance.yaml")
        return local if local.exists() else EXAMPLE_POLICY

    @property
    def policy_is_implicit_example(self) -> bool:
        """True when the shipped example applies only because no policy file was named."""
        return self.policy_file is None and self.resolved_policy_file == EXAMPLE_POLICY


def load_settings() -> Settings:
    """Read and validate settings; a bad value raises ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "GOVERNANCE_" + str(first["loc"][0]).upper()
        raise ConfigError(f"setting {key}: {first['msg']}") from None
    except SettingsError as exc:
        # pydantic-settings decodes list and dict variables as JSON before validation, and
        # names the field only in its message.
        field = re.search(r'field "(\w+)"', str(exc))
        key = "GOVERNANCE_" + field[1].upper() if field else "a GOVERNANCE_* variable"
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"setting {key}: not valid JSON{cause}") from None


def load_policy(path: Path):
    """Parse and validate the policy file; a bad key or value raises ConfigError naming it."""
    from governance.domain.policy import policy_from_mapping

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"policy file {path}: invalid YAML: {exc}") from None
    return policy_from_mapping(data)


def require_configured_policy(settings: Settings) -> None:
    """Raise ConfigError unless a policy file was named or ./governance.yaml exists."""
    # The example's roster and thresholds are illustrations: promoting under them by accident
    # would put a real model into production on rules nobody chose.
    if settings.policy_is_implicit_example:
        raise ConfigError(
            f"no policy configured: copy {EXAMPLE_POLICY} to governance.yaml or set "
            "GOVERNANCE_POLICY_FILE (the shipped example is used only when named explicitly)"
        )
