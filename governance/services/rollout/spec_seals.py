"""Sealing routing specs with a MAC when they are written, and checking a spec before serving it.

The gateway serves what `routing_specs` holds, and anyone who can write the database can
change that. So each spec is sealed with a MAC (domain/spec_seals.py) made in the same
transaction as its `routing.changed` event, and the gateway, which holds the key, serves
only a spec whose content the seal covers. A spec written before seals existed has none;
it is accepted when its content hashes to the hash its MAC-verified `routing.changed`
event records, so an upgraded database keeps serving with no re-sealing step.
"""

from __future__ import annotations

from governance.domain.audit import MAC_PURPOSE, AuditEvent, canonical_event, chain_hash
from governance.domain.errors import ConfigError
from governance.domain.rollout import SpecVersion
from governance.domain.spec_seals import SPEC_MAC_PURPOSE, spec_seal_message
from governance.keyring import Keyring
from governance.store.unit_of_work import Transaction


def seal(keyring: Keyring | None, endpoint: str, number: int, spec_hash: str) -> str:
    """The MAC of spec `number` of `endpoint` whose content hashes to `spec_hash`."""
    if keyring is None:
        raise ConfigError("routing specs need the secret key file to seal them; none is set")
    return keyring.mac(SPEC_MAC_PURPOSE, spec_seal_message(endpoint, number, spec_hash))


def seal_problem(tx: Transaction, keyring: Keyring, model: str, found: SpecVersion) -> str:
    """'' when the key vouches for the spec's content, else why it must not be served."""
    content_hash = found.spec.digest()
    if found.mac is not None:
        message = spec_seal_message(found.endpoint, found.number, content_hash)
        if keyring.check_mac(SPEC_MAC_PURPOSE, message, found.mac):
            return ""
        return (
            f"its content (hash {content_hash}) is not what its spec_mac covers:"
            " the routing_specs row was changed outside governance"
        )
    # Written before seals existed: its MAC-verified routing.changed event must vouch for it.
    recorded = _recorded_hash(tx, keyring, model, found.endpoint, found.number)
    if recorded is None:
        return "it has no spec_mac and no MAC-verified routing.changed event records it"
    if recorded != content_hash:
        return (
            f"it has no spec_mac and its content hashes to {content_hash},"
            f" but its routing.changed event records {recorded}"
        )
    return ""


def _recorded_hash(
    tx: Transaction, keyring: Keyring, model: str, endpoint: str, number: int
) -> str | None:
    """The spec hash the MAC-verified routing.changed event of the spec records, or None."""
    for event in reversed(tx.audit.query(event_type="routing.changed", model=model)):
        details = event.details
        if details.get("endpoint") == endpoint and details.get("spec") == number:
            return details.get("spec_hash") if _authentic(keyring, event) else None
    return None


def _authentic(keyring: Keyring, event: AuditEvent) -> bool:
    """The event's stored fields hash to its hash, and its MAC covers that hash."""
    canonical = canonical_event(
        event.seq,
        event.id,
        event.ts,
        event.event_type,
        event.model,
        event.version,
        event.actor,
        event.details_json,
    )
    digest = chain_hash(event.prev_hash, canonical)
    return digest == event.hash and keyring.check_mac(MAC_PURPOSE, digest, event.mac or "")
