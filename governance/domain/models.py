"""Registered models, their versions, and the lifecycle stage machine."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.audit import canonical_json
from governance.domain.errors import (
    IllegalTransition,
    InvalidInput,
    InvalidReference,
    InvalidVersion,
)

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")

DEFAULT_SUNSET_DAYS = 30


class RiskLevel(StrEnum):
    """How much harm a wrong prediction can do; it drives card and approval rules."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ModelKind(StrEnum):
    """What a version is made of: a scikit-learn artifact or an LLM configuration."""

    sklearn = "sklearn"
    llm = "llm"


class LifecycleStage(StrEnum):
    """Where a version is in its life."""

    development = "development"
    staging = "staging"
    production = "production"
    deprecated = "deprecated"
    retired = "retired"


S = LifecycleStage
LEGAL_TRANSITIONS: dict[LifecycleStage, frozenset[LifecycleStage]] = {
    S.development: frozenset({S.staging, S.retired}),
    S.staging: frozenset({S.production, S.retired}),
    # production is left by being archived when another version is promoted, or by a
    # deprecation with a reason (taken out of service with no successor)
    S.production: frozenset({S.deprecated}),
    S.deprecated: frozenset({S.production, S.retired}),
    S.retired: frozenset(),
}


def parse_semver(text: str) -> tuple[int, int, int, str]:
    """Split a semantic version into (major, minor, patch, prerelease) or raise InvalidVersion."""
    match = _SEMVER.match(text or "")
    if not match:
        raise InvalidVersion(f"invalid semantic version {text!r}: expected MAJOR.MINOR.PATCH")
    return int(match[1]), int(match[2]), int(match[3]), match[4] or ""


def semver_key(text: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    """Sort key that orders versions by semver 2.0.0 precedence; build metadata is ignored."""
    major, minor, patch, pre = parse_semver(text)
    # §11: dot-separated identifiers compare one by one; numeric ones numerically and below
    # alphanumeric ones; tuple comparison puts a shorter, otherwise equal set first.
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".") if pre
    )
    # a prerelease sorts before its release, whatever its identifiers
    return major, minor, patch, 0 if pre else 1, identifiers


def check_name(name: str) -> str:
    """Return the model name if it is a legal identifier, else raise InvalidInput."""
    if not _NAME.match(name or ""):
        raise InvalidReference(
            f"invalid model name {name!r}: use lower-case letters, digits, '.', '_' or '-'"
        )
    return name


class RegisteredModel(BaseModel):
    """A named model owned by a team, with one risk level and kind."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    name: str
    owner: str
    team: str
    description: str = ""
    risk_level: RiskLevel
    kind: ModelKind = ModelKind.sklearn
    created_at: datetime | None = None


class ModelVersion(BaseModel):
    """One immutable registration of a model: artifact, training facts and metrics."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    model_name: str
    version: str
    stage: LifecycleStage = LifecycleStage.development
    artifact_uri: str | None = None
    artifact_digest: str | None = None
    llm_config: dict[str, Any] | None = None
    training_data_version: str = ""
    training_pipeline: str = ""
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    created_by: str
    created_at: datetime
    stage_changed_at: datetime | None = None
    sunset_at: datetime | None = None

    @property
    def ref(self) -> str:
        """The `name@version` reference of this version."""
        return f"{self.model_name}@{self.version}"


def check_transition(
    version: ModelVersion, target: LifecycleStage, now: datetime
) -> LifecycleStage:
    """Return `target` if the move is legal at `now`; else IllegalTransition naming both stages."""
    current = version.stage
    if target not in LEGAL_TRANSITIONS[current]:
        raise IllegalTransition(
            f"{version.ref}: illegal transition {current.value} -> {target.value}"
        )
    expired = version.sunset_at is None or now >= version.sunset_at
    if current == S.deprecated and target == S.production and expired:
        raise IllegalTransition(
            f"{version.ref}: illegal transition deprecated -> production: "
            f"the rollback grace period ended at {version.sunset_at}"
        )
    return target


LLM_REQUIRED_KEYS = ("base_model", "provider")


def check_payload(
    model: RegisteredModel, has_artifact: bool, llm_config: dict[str, Any] | None
) -> None:
    """A scikit-learn version carries an artifact, an LLM version a configuration; never both."""
    if model.kind == ModelKind.sklearn and (not has_artifact or llm_config is not None):
        raise InvalidInput(
            f"{model.name} is a sklearn model: register an artifact, not an LLM config"
        )
    if model.kind == ModelKind.llm:
        if has_artifact or llm_config is None:
            raise InvalidInput(f"{model.name} is an LLM model: register an LLM config, no artifact")
        missing = [key for key in LLM_REQUIRED_KEYS if not str(llm_config.get(key) or "").strip()]
        if missing:
            raise InvalidInput(f"LLM config for {model.name} lacks {', '.join(missing)}")


# What marks an evidence `artifact_digest` as taken over an LLM configuration, not a file.
CONFIG_DIGEST_PREFIX = "config:"


def config_digest(config: dict[str, Any]) -> str:
    """`config:<sha256>` of an LLM configuration's canonical JSON (sorted keys, compact)."""
    digest = hashlib.sha256(canonical_json(config).encode()).hexdigest()
    return f"{CONFIG_DIGEST_PREFIX}{digest}"


def is_llm(version: ModelVersion) -> bool:
    """True for a version registered as an LLM configuration (it has no artifact)."""
    return version.llm_config is not None


def payload_digest(version: ModelVersion) -> str:
    """What approvals bind a version's payload by: its artifact's sha256 or its config digest.

    Registered facts are immutable, so for either kind the value never moves.
    """
    if version.artifact_digest:
        return version.artifact_digest
    if version.llm_config is not None:
        return config_digest(version.llm_config)
    return ""


def sunset_after(now: datetime, days: int = DEFAULT_SUNSET_DAYS) -> datetime:
    """The date after which a deprecated version may be retired and no longer rolled back to."""
    return now + timedelta(days=days)


class ModelRef(BaseModel):
    """A parsed `name`, `name@version`, `name@stage` or `name@alias` reference."""

    model_config = ConfigDict(frozen=True)

    name: str
    selector: str | None = None

    @property
    def kind(self) -> str:
        """One of 'latest', 'version', 'stage' or 'alias'."""
        if self.selector is None:
            return "latest"
        if _SEMVER.match(self.selector):
            return "version"
        if self.selector in LifecycleStage.__members__:
            return "stage"
        return "alias"


def parse_ref(text: str) -> ModelRef:
    """Parse a reference like `churn@production`; raise InvalidReference if it is malformed."""
    name, sep, selector = (text or "").partition("@")
    check_name(name)
    if sep and not selector:
        raise InvalidReference(f"invalid reference {text!r}: nothing after '@'")
    return ModelRef(name=name, selector=selector or None)


def check_alias(alias: str) -> str:
    """Return the alias if usable: not a stage name, not a version, a plain identifier."""
    if alias in LifecycleStage.__members__ or _SEMVER.match(alias) or not _NAME.match(alias):
        raise InvalidReference(
            f"invalid alias {alias!r}: use an identifier that is neither a stage nor a version"
        )
    return alias
