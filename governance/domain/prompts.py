"""Prompt versions: semver bumps, the status machine, declared variables and the pointer."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from governance.domain.errors import (
    IllegalTransition,
    InvalidInput,
    InvalidReference,
    InvalidTemplate,
)
from governance.domain.models import check_name, parse_semver

Bump = Literal["major", "minor", "patch"]
BUMPS: tuple[str, ...] = ("major", "minor", "patch")
FIRST_VERSION = "1.0.0"
# The selector that names whichever version the production pointer holds.
PRODUCTION = "production"
MAX_TEMPLATE_CHARS = 100_000


class PromptStatus(StrEnum):
    """Where a prompt version is in its life."""

    draft = "draft"
    review = "review"
    approved = "approved"
    deprecated = "deprecated"


P = PromptStatus
LEGAL_MOVES: dict[PromptStatus, frozenset[PromptStatus]] = {
    P.draft: frozenset({P.review, P.deprecated}),
    # review -> approved happens only when promote-prompt carries out an approved request
    P.review: frozenset({P.approved, P.deprecated}),
    P.approved: frozenset({P.deprecated}),
    P.deprecated: frozenset(),
}

PointerKind = Literal["promotion", "canary", "rollback", "canary-rollback"]


class PromptVersion(BaseModel):
    """One immutable template of a prompt, with its declared variables and status."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    prompt_id: str
    version: str
    template: str
    template_digest: str
    variables: list[str]
    status: PromptStatus = PromptStatus.draft
    description: str = ""
    created_by: str
    created_at: datetime
    status_changed_at: datetime | None = None

    @property
    def ref(self) -> str:
        """The `id@version` reference of this version."""
        return f"{self.prompt_id}@{self.version}"


class PointerMove(BaseModel):
    """One move of a prompt's production pointer: to which version, by whom, on what ground."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    version: str
    previous_version: str | None = None
    kind: PointerKind
    moved_by: str
    moved_at: datetime
    request_id: str | None = None
    # Who approved the version this move put in production (from its promotion request).
    approvers: list[dict[str, str]] = Field(default_factory=list)
    reason: str = ""


class PromptRef(BaseModel):
    """A parsed `id`, `id@VERSION` or `id@production` reference."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    selector: str | None = None

    @property
    def is_production(self) -> bool:
        """True when the reference names the production pointer."""
        return self.selector == PRODUCTION


def check_prompt_id(prompt_id: str) -> str:
    """Return the prompt id if it is a legal identifier, else raise InvalidReference."""
    try:
        return check_name(prompt_id)
    except InvalidReference:
        raise InvalidReference(
            f"invalid prompt id {prompt_id!r}: use lower-case letters, digits, '.', '_' or '-'"
        ) from None


def parse_prompt_ref(text: str) -> PromptRef:
    """Parse `id`, `id@1.2.0` or `id@production`; raise InvalidReference when malformed."""
    prompt_id, sep, selector = (text or "").partition("@")
    check_prompt_id(prompt_id)
    if sep and not selector:
        raise InvalidReference(f"invalid prompt reference {text!r}: nothing after '@'")
    if selector and selector != PRODUCTION:
        parse_semver(selector)
    return PromptRef(prompt_id=prompt_id, selector=selector or None)


def next_version(latest: str | None, bump: str) -> str:
    """The version after `latest` for a bump; the first version of a prompt is 1.0.0."""
    if bump not in BUMPS:
        raise InvalidInput(f"unknown bump {bump!r}: expected major, minor or patch")
    if latest is None:
        return FIRST_VERSION
    major, minor, patch, _ = parse_semver(latest)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def template_digest(template: str) -> str:
    """sha256 hex of the template's UTF-8 bytes: what an approval of this text is bound to."""
    return hashlib.sha256(template.encode()).hexdigest()


def parse_variables(text: str | None) -> list[str] | None:
    """Split a comma-separated `--variables` value into sorted names (None when not given)."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not name.isidentifier()]
    if bad:
        raise InvalidTemplate(f"invalid variable name(s): {', '.join(bad)}")
    return sorted(set(names))


def check_variables(declared: list[str] | None, used: set[str]) -> list[str]:
    """The variables to record: `declared` must equal what the template uses, named if not."""
    if declared is None:
        return sorted(used)
    undeclared = sorted(used - set(declared))
    unused = sorted(set(declared) - used)
    problems = []
    if undeclared:
        problems.append(f"used but not declared: {', '.join(undeclared)}")
    if unused:
        problems.append(f"declared but not used: {', '.join(unused)}")
    if problems:
        raise InvalidTemplate(f"template variables do not match: {'; '.join(problems)}")
    return sorted(declared)


def check_render_variables(version: PromptVersion, given: dict[str, object]) -> None:
    """Refuse a render that lacks a declared variable or passes one the template does not use."""
    missing = sorted(set(version.variables) - set(given))
    unknown = sorted(set(given) - set(version.variables))
    if missing:
        raise InvalidInput(f"{version.ref} needs variable(s) {', '.join(missing)}: missing")
    if unknown:
        raise InvalidInput(
            f"{version.ref} has no variable(s) {', '.join(unknown)}; "
            f"it takes {', '.join(version.variables) or 'none'}"
        )


def check_move(version: PromptVersion, target: PromptStatus) -> PromptStatus:
    """Return `target` if the status machine allows it, else IllegalTransition naming both."""
    if target not in LEGAL_MOVES[version.status]:
        hint = " (submit it for review first)" if target == P.approved else ""
        raise IllegalTransition(
            f"{version.ref}: illegal status change {version.status.value} -> {target.value}{hint}"
        )
    return target


def check_rollback_target(version: PromptVersion, current: str | None) -> None:
    """A rollback goes to an earlier approved version that is not already in production."""
    if version.status != PromptStatus.approved:
        raise IllegalTransition(
            f"cannot roll {version.prompt_id} back to {version.version}: "
            f"it was never approved (status {version.status.value})"
        )
    if current == version.version:
        raise IllegalTransition(f"{version.ref} is already in production")


def production_at(moves: list[PointerMove], when: datetime) -> PointerMove | None:
    """The move that held the production pointer at `when` (moves in time order), or None."""
    held = None
    for move in moves:
        if move.moved_at > when:
            break
        held = move
    return held


class RegisteredSuite(BaseModel):
    """A golden-case suite registered content-addressed: its name, digest and case count."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    name: str
    digest: str
    uri: str
    n_cases: int
    registered_by: str
    registered_at: datetime

    @property
    def ref(self) -> str:
        """`name@digest12`, how reports name the suite."""
        return f"{self.name}@{self.digest[:12]}"


class PromptEvaluation(BaseModel):
    """One run of a suite against a prompt (or LLM) version, with its gate decision."""

    model_config = ConfigDict(frozen=True)

    id: str
    subject: str
    suite: RegisteredSuite
    target: dict
    result: dict
    decision: dict
    passed: bool
    baseline_version: str | None = None
    created_by: str
    created_at: datetime
    flow_run_id: str | None = None
