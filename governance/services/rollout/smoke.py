"""Blue/green smoke test: the idle slot, called through the gateway, must answer as offline."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from governance.bootstrap import Governance
from governance.domain.rollout import Rollout
from governance.services.rollout.gateway_credentials import CREDENTIAL_HEADER, mint, smoke_scope
from governance.services.rollout.routing import current_spec_in


def _rows(gov: Governance, rollout: Rollout, dataset: str) -> tuple[list[dict], list[Any]]:
    """The first rows of the evaluation dataset and the version's offline predictions on them."""
    from governance.ml.metrics import load_frame  # pandas and sklearn only when needed

    with gov.store.read() as tx:
        data = tx.evaluation.get_dataset(dataset)
        version = tx.registry.get_version(rollout.model_name, rollout.version)
    frame = load_frame(gov.artifacts.read_verified(data.digest), data.format)
    frame = frame.head(gov.policy.blue_green.smoke_rows)
    estimator = gov.artifacts.load_estimator(version.artifact_digest or "")
    names = getattr(estimator, "feature_names_in_", None)
    columns = (
        [str(n) for n in names]
        if names is not None
        else [c for c in frame.columns if c != data.target and c not in data.group_columns]
    )
    features = frame[columns]
    offline = estimator.predict(features if names is not None else features.to_numpy())
    # JSON round trip turns numpy scalars into the plain values the gateway returns.
    rows = json.loads(features.to_json(orient="records"))
    return rows, json.loads(json.dumps([v.item() if hasattr(v, "item") else v for v in offline]))


def smoke_test(gov: Governance, rollout: Rollout, dataset: str, now: datetime) -> str:
    """'' when the idle slot's answers through the gateway equal offline ones, else why not.

    Addressing a slot needs a credential made with the secret key (gateway_credentials.py),
    valid for a few minutes from `now`: no client of the gateway can reach the candidate.
    """
    with gov.store.read() as tx:
        spec = current_spec_in(tx, rollout.endpoint)
    slot = next((s for s, held in spec.spec.slots.items() if held == rollout.version), None)
    if slot is None or slot == spec.spec.active_slot:
        return f"{rollout.version} is not in the idle slot of {rollout.endpoint}"
    rows, offline = _rows(gov, rollout, dataset)
    url = f"{gov.settings.gateway_url.rstrip('/')}/v1/endpoints/{rollout.endpoint}/predict"
    body = {"rows": rows, "slot": slot, "targeting_key": f"smoke-{rollout.id}"}
    credential = mint(gov.keyring, smoke_scope(rollout.endpoint, slot), now)
    try:
        answer = httpx.post(url, json=body, headers={CREDENTIAL_HEADER: credential}, timeout=30)
    except httpx.TransportError as exc:
        return f"gateway at {gov.settings.gateway_url} unreachable: {exc}"
    if answer.status_code != 200:
        return f"gateway answered {answer.status_code}: {answer.text[:300]}"
    served = answer.json()
    versions = {p["version"] for p in served["predictions"]}
    online = [p["output"] for p in served["predictions"]]
    if versions != {rollout.version}:
        return f"the {slot} slot was served by {sorted(versions)}, not {rollout.version}"
    mismatched = [i for i, (a, b) in enumerate(zip(online, offline, strict=True)) if a != b]
    if mismatched:
        return (
            f"{len(mismatched)} of {len(rows)} smoke rows differ from the offline predictions "
            f"(first at row {mismatched[0]}: gateway {online[mismatched[0]]!r}, "
            f"offline {offline[mismatched[0]]!r})"
        )
    return ""
