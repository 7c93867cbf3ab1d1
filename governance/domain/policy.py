"""The policy file schema: roster, identity, approval rules, gates, canary and retirement."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from governance.domain.errors import ConfigError
from governance.domain.gate_policy import GatePolicy
from governance.domain.identity import canonical_name
from governance.domain.policy_sections import (
    APPROVAL_ROLES,
    ROLES,
    STRICT,
    ApprovalRole,
    ApprovalRules,
    BlueGreenDefaults,
    CanaryDefaults,
    ExperimentDefaults,
    FlagDefaults,
    GatesPolicy,
    Person,
    PromptDefaults,
    RetentionPolicy,
    RetirementDefaults,
    Role,
)

IdentityMode = Literal["totp", "none"]
# What a rejected break-glass retro-review does: roll back to the previous production
# version inside its grace period (escalating when none can serve), or only escalate.
RetroRejection = Literal["rollback", "escalate"]


class Policy(BaseModel):
    """The validated policy; `version` is policy_version() of it, set by policy_from_mapping.

    The policy in force (`Governance.policy`) is this with the admins' recorded role changes
    laid over its roster; its `version` still names the file.
    """

    model_config = STRICT

    # People may hold no approval role: they can still register versions and request.
    roster: dict[Person, list[Role]] = Field(min_length=1)
    # totp: every actor that separation of duties depends on proves who they are with a
    # one-time code. none: throwaway local use; every form and event says so.
    identity: IdentityMode = "totp"
    break_glass_roles: list[ApprovalRole] = Field(default_factory=lambda: ["ml_lead"], min_length=1)
    break_glass_rejection: RetroRejection = "rollback"
    approvals: ApprovalRules = Field(default_factory=ApprovalRules)
    approval_timeout_hours: float = Field(default=72, gt=0)
    gates: GatesPolicy = Field(default_factory=GatesPolicy)
    canary: CanaryDefaults = Field(default_factory=CanaryDefaults)
    blue_green: BlueGreenDefaults = Field(default_factory=BlueGreenDefaults)
    experiments: ExperimentDefaults = Field(default_factory=ExperimentDefaults)
    flags: FlagDefaults = Field(default_factory=FlagDefaults)
    retirement: RetirementDefaults = Field(default_factory=RetirementDefaults)
    prompts: PromptDefaults = Field(default_factory=PromptDefaults)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    version: str = ""

    @field_validator("roster", mode="before")
    @classmethod
    def _canonical_names(cls, roster: Any) -> Any:
        if not isinstance(roster, Mapping):
            return roster
        canonical: dict[str, Any] = {}
        for person, roles in roster.items():
            name = canonical_name(str(person))
            if name in canonical:
                raise ValueError(f"{person!r} is listed twice (names compare case-folded)")
            canonical[name] = [] if roles is None else roles
        return canonical

    @model_validator(mode="after")
    def _roster_can_fill_approvals(self) -> Policy:
        problem = roster_shortfall(
            self.roster, self.approvals, self.retirement.roles, self.prompts.roles
        )
        if problem:
            raise PydanticCustomError("roster_shortfall", "{detail}", {"detail": problem})
        return self

    @property
    def approval_timeout_seconds(self) -> float:
        """How long an approval request stays open, in seconds."""
        return self.approval_timeout_hours * 3600

    @property
    def short_version(self) -> str:
        """The first 12 hex characters of the version, as shown in UIs."""
        return self.version[:12]

    def holders(self, role: str) -> list[str]:
        """The people in the roster who hold `role`, sorted."""
        return sorted(person for person, roles in self.roster.items() if role in roles)


def roster_shortfall(
    roster: Mapping[str, list[str]],
    rules: ApprovalRules,
    retirement: Sequence[str] = (),
    prompts: Sequence[str] = (),
) -> str | None:
    """Describe why the roster cannot staff the approval rules (promotions, retirement
    reviews and prompt promotions), or None if it can."""
    every_role = {*rules.staging, *rules.production, *rules.production_high_risk_extra}
    every_role |= set(retirement) | set(prompts)
    for role in sorted(every_role | set(rules.quorum)):
        held_by = sorted(person for person, roles in roster.items() if role in roles)
        if len(held_by) < rules.needed(role):
            return (
                f"approvals: role {role} needs {rules.needed(role)} approver(s) but the roster "
                f"gives it to {len(held_by)} ({', '.join(held_by) or 'nobody'})"
            )
    stages = {
        "staging": rules.staging,
        "production": rules.production,
        "production at high risk": [*rules.production, *rules.production_high_risk_extra],
        "a retirement review": list(retirement),
        "a prompt promotion": list(prompts),
    }
    for stage, roles in stages.items():
        slots = [role for role in dict.fromkeys(roles) for _ in range(rules.needed(role))]
        filled = _max_assignment(slots, roster)
        if filled < len(slots):
            return (
                f"approvals: {stage} needs {len(slots)} distinct approvers but the roster can "
                f"fill only {filled} (one person fills at most one role per request)"
            )
    return None


def _max_assignment(slots: list[str], roster: Mapping[str, list[str]]) -> int:
    """Size of the largest assignment of distinct people to role slots (Kuhn's matching)."""
    seated: dict[str, int] = {}

    def seat(slot: int, tried: set[str]) -> bool:
        for person, roles in roster.items():
            if slots[slot] in roles and person not in tried:
                tried.add(person)
                if person not in seated or seat(seated[person], tried):
                    seated[person] = slot
                    return True
        return False

    return sum(seat(slot, set()) for slot in range(len(slots)))


def policy_version(policy: Policy) -> str:
    """The sha256 of the validated policy's canonical JSON (sorted keys, compact, no version)."""
    # Hashing the normalised content rather than the file text means a comment, blank line or
    # key-order edit keeps the version (and so the pending approvals whose evidence names it),
    # while any change of value, including one to a default written out, changes it.
    canonical = json.dumps(
        policy.model_dump(mode="json", exclude={"version"}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def policy_from_mapping(data: object) -> Policy:
    """Validate a parsed policy file; raise ConfigError naming the key path of each problem."""
    if data is None:
        raise ConfigError("policy file: the file is empty; expected a mapping with a roster")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"policy file: expected a mapping of sections at the top level, "
            f"got {type(data).__name__}"
        )
    if "version" in data:
        raise ConfigError(
            "policy file: version: unknown key (the policy version is the sha256 of the "
            "validated policy; it is computed, not written)"
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"policy file: {problems}") from None
    return policy.model_copy(update={"version": policy_version(policy)})


def gate_policy_for(policy: Policy, model_name: str) -> GatePolicy:
    """The gate policy for a model: its per-model override, else the default."""
    return policy.gates.per_model.get(model_name, policy.gates.default)


def _describe(error: Any) -> str:
    """One pydantic error as `key.path: message`."""
    loc = tuple(error["loc"])
    kind = error["type"]
    message = error["msg"]
    # Every Literal in these sections is a role (retirement: the review's roles).
    if (
        kind == "literal_error"
        and loc
        and loc[0] in ("roster", "approvals", "retirement", "prompts", "break_glass_roles")
    ):
        # The role value is in the message, so the list index or '[key]' marker adds nothing.
        while loc and (isinstance(loc[-1], int) or loc[-1] == "[key]"):
            loc = loc[:-1]
        known = ROLES if loc[0] == "roster" else APPROVAL_ROLES
        what = "not an approval role" if error["input"] in ROLES else "unknown role"
        message = f"{what} {error['input']!r} (expected one of {', '.join(known)})"
    elif kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        message = f"unknown key (expected one of {', '.join(known)})" if known else "unknown key"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    path = ".".join(str(part) for part in loc)
    return f"{path}: {message}" if path else message


def _known_keys(loc: tuple[Any, ...]) -> list[str] | None:
    """The keys accepted at `loc` in the policy schema, or None if it is not a section."""
    node: Any = Policy
    for part in loc:
        node = _child(node, part)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return [name for name in node.model_fields if not (node is Policy and name == "version")]
    return None


def _child(node: Any, part: Any) -> Any:
    """The schema type one step below `node` along `part`."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(str(part))
        return field.annotation if field else None
    args = get_args(node)
    if get_origin(node) is dict:
        return args[1]
    if get_origin(node) in (list, tuple):
        return args[0]
    return None
