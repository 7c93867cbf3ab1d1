"""Chapter 4b: a database writer without the key rewrites the routing; the gateway refuses it.

The attack appends a routing spec row by hand (spec JSON and spec_hash both consistent)
that makes 1.4.0, whose canary rolled back, the stable version of triage-api. The live
gateway checks each new spec's MAC, refuses this one, keeps serving the last good spec,
logs the refusal and counts it in /metrics; `audit verify` names the row. The forged row is
then deleted, so the rest of the demo runs on an intact trail.
"""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
from sklearn.datasets import load_breast_cancer

from deployments.demo.rollout import ENDPOINT
from deployments.demo.stage import HOME, Authenticators, governance, step
from governance.domain.rollout import RoutingSpec

FORGED = RoutingSpec(stable="1.4.0")


def _append_forgery(db: sqlite3.Connection) -> int:
    """Copy the newest spec row of the endpoint as the next one, with 1.4.0 made stable."""
    endpoint_id, number, created_at, mac = db.execute(
        "SELECT s.endpoint_id, s.number, s.created_at, s.spec_mac FROM routing_specs s"
        " JOIN endpoints e ON e.id = s.endpoint_id WHERE e.name = ?"
        " ORDER BY s.number DESC LIMIT 1",
        (ENDPOINT,),
    ).fetchone()
    db.execute(
        "INSERT INTO routing_specs (endpoint_id, number, spec, spec_hash, actor, reason,"
        " created_at, spec_mac) VALUES (?, ?, ?, ?, 'carol', 'hotfix', ?, ?)",
        (
            endpoint_id,
            number + 1,
            json.dumps(FORGED.model_dump(mode="json")),
            FORGED.digest(),
            created_at,
            mac,  # the previous spec's MAC: the only kind a writer without the key can get
        ),
    )
    db.commit()
    return number + 1


def _served(gateway: str, key: str) -> dict[str, int]:
    """Which versions answer 20 requests from different users."""
    row = load_breast_cancer(as_frame=True).data.iloc[0].to_dict()
    counts: dict[str, int] = {}
    for i in range(20):
        body = {"rows": [row], "targeting_key": f"user-{i}"}
        answer = httpx.post(
            f"{gateway}/v1/endpoints/{ENDPOINT}/predict",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        version = answer.json()["version"] if answer.status_code == 200 else answer.status_code
        counts[str(version)] = counts.get(str(version), 0) + 1
    return counts


def chapter(people: Authenticators, gateway: str, key: str) -> None:
    """Forge a spec in the live database, show the gateway refusing it, then remove it."""
    step("20b. a database writer without the key makes 1.4.0 stable: the gateway refuses it")
    db = sqlite3.connect(HOME / "governance.db")
    number = _append_forgery(db)
    try:
        print(f"appended routing_specs row {ENDPOINT} spec {number}: stable 1.4.0, no valid MAC")
        time.sleep(1.0)  # the gateway polls for new specs several times a second
        print(f"  20 requests now served by: {_served(gateway, key)}")
        metrics = httpx.get(f"{gateway}/metrics", timeout=10).text.splitlines()
        for line in metrics:
            if line.startswith("gateway_routing_specs_refused_total"):
                print(f"  /metrics: {line}")
        log = HOME.resolve() / "stack" / "gateway.log"
        for line in log.read_text().splitlines() if log.is_file() else []:
            if f"routing spec {number} refused" in line:
                print(f"  gateway log: {line}")
                break
        with people.laptop("heidi"):  # the auditor asks the server for a verification
            governance("audit", "verify", expect_failure=True)
    finally:
        db.execute(
            "DELETE FROM routing_specs WHERE number = ? AND endpoint_id ="
            " (SELECT id FROM endpoints WHERE name = ?)",
            (number, ENDPOINT),
        )
        db.commit()
        db.close()
    print(f"deleted the forged spec {number}; the trail verifies again")
    with people.laptop("heidi"):
        governance("audit", "verify")
