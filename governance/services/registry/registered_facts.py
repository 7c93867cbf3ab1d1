"""A version's facts as the audit chain registered them, and the check that a row still holds them.

A database writer without the key can edit `model_versions` (point 1.0.0's artifact digest
at another registered artifact), but cannot forge the MAC of the `model.version_registered`
event. Whatever loads or vouches for a version (the gateway's model cache, `models verify`)
checks the row against that event first.
"""

from __future__ import annotations

import json

from governance.domain.audit import MAC_PURPOSE, authentic
from governance.domain.errors import ConfigError, RegistrationMismatch
from governance.domain.models import ModelVersion
from governance.domain.version_facts import REGISTERED_EVENT, fact_differences, facts_of
from governance.store.audit_log import subject_rows
from governance.store.unit_of_work import Transaction


def chain_facts_in(tx: Transaction, model: str, version: str) -> dict[str, str]:
    """The facts of the version's MAC-verified registration event; RegistrationMismatch if none."""
    if tx.keyring is None:
        raise RegistrationMismatch(
            f"{model}@{version}: no secret key file to check its registration event's MAC"
        )
    try:
        key = tx.keyring.derive(MAC_PURPOSE)
    except ConfigError as exc:
        raise RegistrationMismatch(
            f"{model}@{version}: cannot check its registration event's MAC: {exc}"
        ) from None
    rows = subject_rows(tx.conn, REGISTERED_EVENT, model, version)
    verified = [row for row in rows if authentic(row, key)]
    if not verified:
        what = "fails its MAC check" if rows else "is missing from the audit trail"
        raise RegistrationMismatch(f"{model}@{version}: its {REGISTERED_EVENT} event {what}")
    # One registration per version (DuplicateVersion); the first verified one is it.
    return facts_of(json.loads(verified[0][7]))


def check_registered_in(tx: Transaction, found: ModelVersion) -> None:
    """RegistrationMismatch naming each fact the row holds differently from the chain."""
    chain = chain_facts_in(tx, found.model_name, found.version)
    differs = fact_differences(facts_of(found.model_dump(mode="json")), chain)
    if differs:
        raise RegistrationMismatch(
            f"{found.ref}: the row disagrees with its registration in the audit chain: "
            + "; ".join(differs)
        )
