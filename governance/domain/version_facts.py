"""A version's immutable registered facts, as the chain's registration event and the row hold them.

`model.version_registered` carries every fact the registry keeps (artifact digest, LLM
configuration, training data version and pipeline, hyperparameters, metrics, registrant);
the replay and the gateway compare a row's facts with the event's, field by field, as
canonical JSON, so a database writer who edits a row cannot pass it off as registered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from governance.domain.audit import canonical_json

FACT_FIELDS: tuple[str, ...] = (
    "artifact_digest",
    "llm_config",
    "training_data_version",
    "training_pipeline",
    "hyperparameters",
    "metrics",
    "created_by",
)

# The event type whose MAC-verified details are a version's registered facts.
REGISTERED_EVENT = "model.version_registered"


def facts_of(values: Mapping[str, Any]) -> dict[str, str]:
    """Each fact present in `values` as canonical JSON (events written before a fact was
    recorded simply lack it, and nothing is compared for it)."""
    return {name: canonical_json(values[name]) for name in FACT_FIELDS if name in values}


def fact_differences(row: Mapping[str, str], chain: Mapping[str, str]) -> list[str]:
    """'<fact> is X but the chain registered Y' for each fact the row holds differently."""
    return [
        f"{name} is {shown(row.get(name))} but the chain registered {shown(chain[name])}"
        for name in FACT_FIELDS
        if name in chain and row.get(name) != chain[name]
    ]


def shown(fact_json: str | None) -> str:
    """A fact for a message: a JSON string without its quotes, anything else as JSON."""
    if fact_json is None:
        return "missing"
    value = json.loads(fact_json)
    return value if isinstance(value, str) else fact_json


def version_differences(
    implied: Mapping[tuple[str, str], Mapping[str, str]],
    actual: Mapping[tuple[str, str], Mapping[str, str]],
) -> Iterator[str]:
    """Each version row whose facts differ from its registration event, naming the fact.

    A version with no row, or no event, is named by the stage comparison already.
    """
    if implied == actual:
        return
    for key in sorted(implied.keys() & actual.keys()):
        for name in FACT_FIELDS:
            chain, row = implied[key].get(name), actual[key].get(name)
            if chain is not None and row != chain:
                yield (
                    f"model_versions {key[0]}@{key[1]}: {name} is {shown(row)}"
                    f" but the events imply {shown(chain)}"
                )


def evaluation_differences(implied: Mapping[str, str], actual: Mapping[str, str]) -> Iterator[str]:
    """Each evaluation run whose subject or contents differ from its `model.evaluated` event."""
    if implied == actual:
        return
    for run_id in sorted(implied.keys() | actual.keys()):
        label = f"evaluation_runs {run_id}"
        mine, theirs = implied.get(run_id), actual.get(run_id)
        if mine is None:
            yield f"{label}: the table has a row that no model.evaluated event accounts for"
        elif theirs is None:
            yield f"{label}: the events imply this evaluation but the table has no row"
        elif " " not in mine and theirs.split(" ", 1)[0] == mine:
            continue  # an event from before contents were bound: only its subject compares
        elif theirs.split(" ", 1)[0] != mine.split(" ", 1)[0]:
            yield f"{label}: it evaluates {theirs.split(' ', 1)[0]} but the events imply {mine}"
        else:
            yield (
                f"{label}: its contents (metrics, dataset, gate decision) digest to"
                f" {theirs.split(' ', 1)[1][:16]} but model.evaluated recorded"
                f" {mine.split(' ', 1)[1][:16]}: the stored evaluation was edited"
            )
