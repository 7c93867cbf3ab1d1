"""People, canonical names, and what a verified actor is."""

from __future__ import annotations

import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict

from governance.domain.errors import InvalidInput

MAX_NAME = 128
NOT_VERIFIED = "identities not verified"
# Printable text only: what forms declare, so the server refuses control characters early.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
# Six digits, as authenticator apps show them (optionally "123 456").
CODE_PATTERN = r"^ *[0-9]{3} ?[0-9]{3} *$"


def canonical_name(text: str) -> str:
    """The one form of a person's name that is stored and compared: NFKC, trimmed, case-folded.

    InvalidInput when it is empty, longer than 128 characters or holds control characters.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"a person's name must be text, got {type(text).__name__}")
    name = unicodedata.normalize("NFKC", text).strip().casefold()
    if not name:
        raise InvalidInput("a person's name is empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a person's name is longer than {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise InvalidInput(f"a person's name holds control characters: {name!r}")
    return name


IdentityMethod = Literal["totp", "oidc", "none", "system"]
"""How an actor's identity was established: a one-time code (or a session opened with one),
the organisation's single sign-on (a console session), nothing (`identity: none`), or not at
all because the actor is the scheduler, not a person."""


class VerifiedActor(BaseModel):
    """A roster person (or the scheduler), and how their identity was established for this act.

    `method` has no default: every caller says how it knows who acts, so an actor is never
    verified by omission.
    """

    # extra="forbid": a misspelt or invented field (say `verified=False`) is refused rather
    # than silently dropped.
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    # "totp": a one-time code stood behind the act. "oidc": a console session opened by the
    # identity provider's single sign-on; no code of ours stood behind it, so it is not
    # `verified` and every approval still asks for a fresh code (step-up).
    # "none": `identity: none` was in force.
    # "system": the scheduler acting on its own schedule; it may request, never decide.
    method: IdentityMethod

    @property
    def verified(self) -> bool:
        """True only when a person's one-time code stood behind this action."""
        return self.method == "totp"
