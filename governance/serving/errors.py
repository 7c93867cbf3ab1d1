"""The gateway's refusals, and the one table that turns each into an HTTP status."""

from __future__ import annotations

from governance.domain.errors import (
    ArtifactError,
    Conflict,
    GovernanceError,
    IdentityError,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)
from governance.domain.rollout import NoRoute


class BadTensor(InvalidInput):
    """An input tensor or row with a missing feature, a wrong shape or a wrong datatype."""


class BodyTooLarge(InvalidInput):
    """The request body is over the configured size limit."""


class UnknownEndpoint(NotFound):
    """No endpoint has this name."""


class VersionNotServed(NotFound):
    """A versioned path names a version the endpoint's live routing does not serve now."""


class UnknownPrediction(NotFound):
    """An outcome names a prediction id the log does not hold."""


class ModelFailed(GovernanceError):
    """The model raised while predicting on input that passed every check."""


class NotReady(GovernanceError):
    """The gateway has not loaded its routing yet."""


class CredentialRefused(GovernanceError):
    """A privileged request (a slot, the full routing) came without a valid credential."""


class ClientKeyRefused(IdentityError):
    """A predict, outcome or prompt request came without a valid client key (401)."""


class ClientOutOfScope(GovernanceError):
    """A client key was used on an endpoint or route outside its scope (403)."""


class SpecRefused(GovernanceError):
    """The endpoint's newest routing spec failed its seal, and no earlier one is live here."""


# Most specific first: the first class an error is an instance of decides its status.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (BodyTooLarge, 413),
    (ClientKeyRefused, 401),
    (ClientOutOfScope, 403),
    (NoRoute, 503),  # an InvalidInput in the domain, but here the caller did nothing wrong
    (InvalidInput, 400),
    (CredentialRefused, 403),
    (NotFound, 404),
    (Conflict, 409),
    (NotReady, 503),
    (SpecRefused, 503),
    (StoreUnavailable, 503),
    (ArtifactError, 503),
    (ModelFailed, 500),
    (GovernanceError, 400),
)


def status_for(exc: Exception) -> int:
    """The HTTP status that answers `exc`."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 500
