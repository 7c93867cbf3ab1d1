"""The server's refusals and the one table that turns each into an HTTP status."""

from __future__ import annotations

from governance.domain.errors import (
    ApprovalError,
    ArtifactError,
    AuditError,
    BreakGlassRefused,
    Conflict,
    GovernanceError,
    IdentityError,
    IllegalTransition,
    InvalidCode,
    InvalidInput,
    NotFound,
    NotInRoster,
    RoleNotHeld,
    SeparationOfDuties,
    StoreUnavailable,
)


class NotAuthenticated(IdentityError):
    """A call without a bearer token, or with one that is unknown, expired or revoked."""


class Forbidden(RoleNotHeld):
    """The token's person lacks the role this call requires."""


class UploadTooLarge(InvalidInput):
    """An upload is over the server's size limit."""


class UploadDigestMismatch(ArtifactError):
    """The uploaded bytes do not hash to the digest the client named."""


class UnknownCommand(NotFound):
    """No command of that name is served here (or it runs on the server host only)."""


class BadParameters(InvalidInput):
    """A command's parameters do not parse: the message names the parameter."""


# Most specific first: the first class an error is an instance of decides its status.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (UploadTooLarge, 413),
    (UploadDigestMismatch, 422),
    (InvalidCode, 401),
    (NotAuthenticated, 401),
    (RoleNotHeld, 403),
    (NotInRoster, 403),
    (SeparationOfDuties, 403),
    (BreakGlassRefused, 403),
    (IdentityError, 401),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (IllegalTransition, 409),
    (ApprovalError, 409),
    (AuditError, 409),
    (ArtifactError, 409),
    (StoreUnavailable, 503),
    (GovernanceError, 400),
)


def status_for(exc: Exception) -> int:
    """The HTTP status that answers `exc`."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 500


def body_for(exc: GovernanceError) -> dict:
    """The JSON body of a refusal: its type and the message naming the problem."""
    return {"error": {"type": type(exc).__name__, "message": str(exc)}}
