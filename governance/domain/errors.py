"""The GovernanceError tree: every refusal the control plane can give, typed.

GovernanceError
├── InvalidInput                 bad values from a user or a file
│   ├── InvalidVersion           not a semantic version
│   ├── MalformedCard            card YAML/JSON that does not parse or has bad field values
│   ├── IncompleteCard           card lacks fields the target stage and risk require
│   ├── InvalidReference         `name@...` reference that does not parse
│   └── ConfigError              settings or policy file with a bad key or value
├── NotFound
│   ├── ModelNotFound
│   ├── VersionNotFound
│   └── DatasetNotFound
├── Conflict
│   ├── DuplicateModel
│   ├── DuplicateVersion
│   ├── OpenRequestExists        a second promotion while one is open for the version
│   └── ImmutableFact            an attempt to change a registered fact
├── IllegalTransition            a lifecycle move the state machine forbids
│   └── UseThePromotionDoor      staging/production asked for outside promote-model
├── ArtifactError
│   ├── ArtifactMissing
│   ├── DigestMismatch           bytes changed after registration
│   └── UntrustedArtifact        file holds types outside the allow-list
├── ApprovalError
│   ├── NotInRoster
│   ├── RoleNotHeld
│   ├── SeparationOfDuties       self-approval, or one person in two roles
│   ├── RequestClosed            decision on a request that is no longer open
│   ├── NotPaused                resume of a run that is not waiting for input
│   ├── BreakGlassRefused        break-glass without a reason or the role
│   └── EvidenceChanged          approvals void because the evidence moved
├── IdentityError                who is acting could not be verified
│   ├── NotEnrolled              a roster person with no authenticator
│   ├── InvalidCode              wrong, reused or expired one-time code
│   ├── NotLoggedIn              no (live) CLI session
│   └── RequesterNotVerified     a promotion run without a valid request token
├── AuditError
│   ├── ChainBroken              verification found a tampered event
│   ├── SignatureInvalid         a checkpoint whose Ed25519 signature does not verify
│   └── StateMismatch            a state table disagrees with what the events imply
└── StoreUnavailable             the governance database cannot be reached
"""

from __future__ import annotations


class GovernanceError(Exception):
    """Base of every refusal; its message names what was wrong."""


class InvalidInput(GovernanceError):
    """A value supplied by a user or a file is not acceptable."""


class InvalidVersion(InvalidInput):
    """A version string is not a semantic version."""


class InvalidTemplate(InvalidInput):
    """A prompt template does not parse, escapes the sandbox, or misdeclares its variables."""


class MalformedCard(InvalidInput):
    """A model card does not parse or has values of the wrong type."""


class IncompleteCard(InvalidInput):
    """A model card lacks fields that the target stage and risk level require."""

    def __init__(self, missing: list[str], stage: str, risk: str) -> None:
        self.missing = list(missing)
        super().__init__(
            f"model card incomplete for {stage} at {risk} risk: missing {', '.join(self.missing)}"
        )


class InvalidReference(InvalidInput):
    """A model reference such as `name@alias` does not parse."""


class ConfigError(InvalidInput):
    """Settings or the policy file hold a bad key or value."""


class NotFound(GovernanceError):
    """A named thing does not exist."""


class ModelNotFound(NotFound):
    """No registered model has this name."""


class VersionNotFound(NotFound):
    """The model has no such version, alias or stage occupant."""


class DatasetNotFound(NotFound):
    """No evaluation dataset has this name."""


class PromptNotFound(NotFound):
    """No prompt, prompt version or registered suite has this name."""


class DocumentNotFound(NotFound):
    """The model has no compliance document, or not the revision asked for."""


class Conflict(GovernanceError):
    """The request clashes with what is already recorded."""


class DuplicateModel(Conflict):
    """A model with this name is already registered."""


class DuplicateVersion(Conflict):
    """This version is already registered for the model."""


class OpenRequestExists(Conflict):
    """A promotion of this version to this stage is already waiting on approvals."""


class DuplicateContent(Conflict):
    """The new prompt version, or compliance document, is identical to the latest one."""


class ImmutableFact(Conflict):
    """Registered facts never change; a change is a new version."""


class IllegalTransition(GovernanceError):
    """The lifecycle state machine forbids this move."""


class UseThePromotionDoor(IllegalTransition):
    """Staging and production are entered only through promote-model (or break-glass)."""


class ArtifactError(GovernanceError):
    """An artifact cannot be stored or trusted."""


class RegistrationMismatch(ArtifactError):
    """A version's row disagrees with its MAC-verified registration event (or has none)."""


class ArtifactMissing(ArtifactError):
    """The artifact file is not in the store."""


class DigestMismatch(ArtifactError):
    """The artifact bytes no longer match the registered sha256."""


class UntrustedArtifact(ArtifactError):
    """The artifact holds types outside the allow-list; it was not loaded."""


class ApprovalError(GovernanceError):
    """An approval decision is refused."""


class NotInRoster(ApprovalError):
    """The approver is not in the policy's roster."""


class RoleNotHeld(ApprovalError):
    """The approver does not hold the role they claim."""


class SeparationOfDuties(ApprovalError):
    """The decision would break separation of duties."""


class RequestClosed(ApprovalError):
    """The approval request is no longer open."""


class NotPaused(ApprovalError):
    """The flow run is not paused waiting for an approval."""


class BreakGlassRefused(ApprovalError):
    """A break-glass promotion without a reason, or by someone without a break-glass role."""


class InvalidDecision(ApprovalError, InvalidInput):
    """A decision with a bad value: unknown decision, a role not required, nothing to revoke."""

    # An ApprovalError too, because the promotion flow records it and pauses again like any
    # other refused answer, while the CLI still reports it as bad input.


class EvidenceChanged(ApprovalError):
    """The evidence behind the approvals changed, so they are void."""


class ParametersChanged(EvidenceChanged):
    """A run's parameters differ from those it was submitted (and approved) with."""


class IdentityError(GovernanceError):
    """Who is acting could not be verified."""


class NotEnrolled(IdentityError):
    """The person has no enrolled authenticator."""


class InvalidCode(IdentityError):
    """A one-time code is wrong, already used, expired, or someone else's."""


class CodesLocked(IdentityError):
    """A person's code checks are locked after too many wrong codes; says until when."""


class NotLoggedIn(IdentityError):
    """No live CLI session; `governance login NAME --code CODE` opens one."""


class RequesterNotVerified(IdentityError):
    """A promotion run carries no valid, unused request token."""


class AuditError(GovernanceError):
    """The audit trail cannot be written or trusted."""


class ChainBroken(AuditError):
    """Verification found an event whose hash or MAC does not check out."""


class SignatureInvalid(AuditError):
    """A signed checkpoint's signature does not verify with the public key."""


class PackTampered(AuditError):
    """A compliance pack's file, item or log line differs from what its signed manifest says."""


class StateMismatch(AuditError):
    """A state table disagrees with the state the audit events imply."""


class StoreUnavailable(GovernanceError):
    """The governance database cannot be reached."""


class TargetError(GovernanceError):
    """A prompt target is misconfigured or cannot be called."""


class InvalidSuite(InvalidInput):
    """A prompt suite does not parse or holds an unknown assertion or a bad pattern."""
