"""The evidence an approval is bound to: seven facts and the digest over them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from governance.domain.errors import InvalidInput

EVIDENCE_FIELDS: tuple[str, ...] = (
    "artifact_digest",
    "card_hash",
    "evaluation_run_id",
    "evaluation_digest",
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
    evaluation_digest: str,
    incumbent_version: str,
    policy_version: str,
    target_stage: str,
    parameters_digest: str | None = None,
) -> dict[str, str]:
    """The seven facts an approval is bound to; raise InvalidInput if any is empty.

    `evaluation_digest` binds the evaluation's contents, not only its id: editing a stored
    evaluation's metrics moves it, and so voids the approvals standing on it. A request
    opened by a flow run also binds the digest of the run's parameters, as an eighth fact.
    """
    parts = {
        "artifact_digest": artifact_digest,
        "card_hash": card_hash,
        "evaluation_run_id": evaluation_run_id,
        "evaluation_digest": evaluation_digest,
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
    """sha256 hex over the canonical JSON (sorted keys, compact) of the evidence facts."""
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


def bound_by_id(evaluation_id: str) -> str:
    """The evaluation digest of evidence whose evaluation has no stored contents to digest
    (a retirement audit, break-glass's none, an LLM version's prompt-suite run): its id."""
    return f"id:{evaluation_id}"


def evaluation_contents_digest(
    *,
    model: str,
    version: str,
    dataset: str,
    dataset_digest: str,
    result: Mapping[str, Any],
    decision: Mapping[str, Any],
    policy_version: str,
) -> str:
    """sha256 hex of an evaluation's contents as stored: subject, dataset, metrics and gate.

    `result` and `decision` are the JSON the evaluation row holds, so the digest computed
    when the run is recorded equals the one recomputed from the row, on either backend.
    """
    contents = {
        "model": model,
        "version": version,
        "dataset": dataset,
        "dataset_digest": dataset_digest,
        "result": dict(result),
        "decision": dict(decision),
        "policy_version": policy_version,
    }
    canonical = json.dumps(contents, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
