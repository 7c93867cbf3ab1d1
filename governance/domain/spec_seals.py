"""What a routing spec's MAC covers, so the gateway serves only content the key vouched for.

A spec row's `spec_mac` is an HMAC, under the keyring purpose below, of the endpoint, the
spec number and the hash of the spec's content. Someone who can write the database but
does not hold the key can change the content, or copy another row's MAC, but cannot make
a MAC that covers what they wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

# The keyring purpose whose subkey MACs routing specs (see governance.keyring).
SPEC_MAC_PURPOSE = "routing-spec"


def spec_seal_message(endpoint: str, number: int, spec_hash: str) -> str:
    """The text a spec's MAC is made over: endpoint, number and content hash, one per line."""
    return f"{endpoint}\n{number}\n{spec_hash}"


class SpecRow(NamedTuple):
    """One routing_specs row as `audit verify` checks it."""

    endpoint: str
    number: int
    content_hash: str  # recomputed from the spec's JSON
    stored_hash: str  # the spec_hash column
    mac: str | None  # None on specs written before seals existed


def spec_row_problems(rows: Iterable[SpecRow], mac_ok: Callable[[str, str], bool]) -> Iterator[str]:
    """Each row whose stored hash or seal does not cover its content, naming the row.

    `mac_ok(message, mac)` checks a MAC under the spec purpose's key.
    """
    for row in rows:
        label = f"routing_specs {row.endpoint} spec {row.number}"
        if row.stored_hash != row.content_hash:
            yield (
                f"{label}: its content hashes to {row.content_hash}"
                f" but its spec_hash column says {row.stored_hash}"
            )
        message = spec_seal_message(row.endpoint, row.number, row.content_hash)
        if row.mac is not None and not mac_ok(message, row.mac):
            yield f"{label}: its spec_mac does not cover its content (hash {row.content_hash})"
