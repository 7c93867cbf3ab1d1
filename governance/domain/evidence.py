"""The evidence an approval is bound to: six facts and the digest over them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from governance.domain.errors import InvalidInput

EVIDENCE_FIELDS: tuple[str, ...] = (
    "artifact_digest",
    "card_hash",
    "evaluation_run_id",
    "incumbent_version",
    "policy_version",
    "target_stage",
)


# The seventh fact of a request a promote-model run opened: the digest of its parameters.
PARAMETERS_FIELD = "parameters_digest"


# What `incumbent_version` holds when nothing is in production yet.
NO_INCUMBENT = "none"


# What a prompt promotion's approvals are bound to: the template text, the suite it passed,
# that evaluation, the production version it replaces, the policy and the target.
PROMPT_EVIDENCE_FIELDS: tuple[str, ...] = (
    "template_digest",
    "suite_digest",
    "evaluation_run_id",
    "incumbent_version",
    "policy_version",
    "target_stage",
)


def evidence_parts(
    *,
    artifact_digest: str,
    card_hash: str,
    evaluation_run_id: str,
    incumbent_version: str,
    policy_version: str,
    target_stage: str,
    parameters_digest: str | None = None,
) -> dict[str, str]:
    """The six facts an approval is bound to; raise InvalidInput if any is empty.

    A request opened by a flow run also binds the digest of the run's parameters.
    """
    parts = {
        "artifact_digest": artifact_digest,
        "card_hash": card_hash,
        "evaluation_run_id": evaluation_run_id,
        "incumbent_version": incumbent_version,
        "policy_version": policy_version,
        "target_stage": str(target_stage),
    }
    if parameters_digest is not None:
        parts[PARAMETERS_FIELD] = parameters_digest
    empty = [name for name, value in parts.items() if not value]
    if empty:
        raise InvalidInput(f"evidence incomplete: {', '.join(empty)} is empty")
    return parts


def evidence_digest(**facts: str) -> str:
    """sha256 hex over the canonical JSON (sorted keys, compact) of the six evidence facts."""
    if "template_digest" in facts:
        return digest_of(prompt_evidence_parts(**facts))
    return digest_of(evidence_parts(**facts))


def prompt_evidence_parts(**facts: str) -> dict[str, str]:
    """The six facts a prompt promotion's approvals are bound to; InvalidInput if one is empty."""
    parts = {name: str(facts.get(name) or "") for name in PROMPT_EVIDENCE_FIELDS}
    unknown = sorted(set(facts) - set(PROMPT_EVIDENCE_FIELDS))
    empty = [name for name, value in parts.items() if not value]
    if unknown or empty:
        raise InvalidInput(f"evidence incomplete: {', '.join(empty + unknown)} is empty or unknown")
    return parts


def digest_of(parts: Mapping[str, str]) -> str:
    """sha256 hex of the canonical JSON of evidence parts."""
    canonical = json.dumps(dict(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
