"""What the trail records about policies: each version's content, and how it differs from the
one recorded before it; and the spans of the trail written while identities were off."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from governance.domain.policy import Policy

POLICY_LOADED = "policy.loaded"


def policy_document(policy: Policy) -> dict[str, Any]:
    """The validated policy as JSON values, without its version (the digest of this)."""
    return policy.model_dump(mode="json", exclude={"version"})


def _flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaves by dotted key path; lists and empty mappings are values of their own."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, path + "."))
        else:
            flat[path] = value
    return flat


def policy_changes(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Keys changed ({from, to}), added and removed between two policy documents.

    With no previous document there is nothing to compare, and every section is empty.
    """
    if previous is None:
        return {"changed": {}, "added": {}, "removed": {}}
    old, new = _flat(previous), _flat(current)
    same = json.dumps  # compare as JSON, so 1 and 1.0 or key order never count as a change
    return {
        "changed": {
            key: {"from": old[key], "to": new[key]}
            for key in sorted(old.keys() & new.keys())
            if same(old[key], sort_keys=True) != same(new[key], sort_keys=True)
        },
        "added": {key: new[key] for key in sorted(new.keys() - old.keys())},
        "removed": {key: old[key] for key in sorted(old.keys() - new.keys())},
    }


def loaded_details(policy: Policy, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The details of a `policy.loaded` event, given the details of the one before it."""
    document = policy_document(policy)
    before = previous.get("policy") if previous else None
    return {
        "digest": policy.version,
        "previous": previous.get("digest") if previous else None,
        "identity": policy.identity,
        "policy": document,
        **policy_changes(before if isinstance(before, Mapping) else None, document),
    }


class IdentitySpan(BaseModel):
    """A run of consecutive events written while the policy said `identity: none`."""

    model_config = ConfigDict(frozen=True)

    first_seq: int
    last_seq: int
    first_ts: str
    last_ts: str
    events: int


def identity_spans(marked: Iterable[tuple[int, str]]) -> list[IdentitySpan]:
    """Group (seq, ts) of events marked `identities not verified` into consecutive spans."""
    spans: list[IdentitySpan] = []
    for seq, ts in sorted(marked):
        last = spans[-1] if spans else None
        if last is not None and seq == last.last_seq + 1:
            spans[-1] = last.model_copy(
                update={"last_seq": seq, "last_ts": ts, "events": last.events + 1}
            )
        else:
            spans.append(
                IdentitySpan(first_seq=seq, last_seq=seq, first_ts=ts, last_ts=ts, events=1)
            )
    return spans
