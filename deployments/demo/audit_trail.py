"""Chapter 3: the audit trail: signed checkpoints, and a forged row caught on a copy."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid

from deployments.demo.stage import HOME, MODEL, Authenticators, governance, host, step


def forge_on_a_copy() -> None:
    """Append an event to a copy of the database with the published hash rule, but no key."""
    copy = HOME / "forged" / "governance.db"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.unlink(missing_ok=True)
    # SQLite's online backup, not a file copy: the newest events may still be in the WAL file
    # (chapter 5's in-process audit keeps a connection open, so nothing checkpointed them).
    live = sqlite3.connect(HOME / "governance.db")
    db = sqlite3.connect(copy)
    live.backup(db)
    live.close()
    seq, prev = db.execute(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    event = {
        "actor": "carol",
        "details": {"from": "deprecated", "to": "production", "reason": "nobody approved this"},
        "event_type": "model.stage_changed",
        "id": str(uuid.uuid4()),
        "model": MODEL,
        "seq": seq + 1,
        "ts": "2026-11-23T23:59:59.000000Z",
        "version": "1.0.0",
    }
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256((prev + body).encode()).hexdigest()
    db.execute(
        "INSERT INTO audit_events (seq, id, ts, event_type, model, version, actor, details,"
        " prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq + 1,
            event["id"],
            event["ts"],
            event["event_type"],
            MODEL,
            "1.0.0",
            "carol",
            json.dumps(event["details"], sort_keys=True, separators=(",", ":")),
            prev,
            digest,
            "0" * 64,
        ),
    )
    db.commit()
    db.close()
    print(f"appended event {seq + 1} to {copy}: its sha256 chains; its MAC cannot be made")
    saved = os.environ.get("GOVERNANCE_DATABASE_URL")
    os.environ["GOVERNANCE_DATABASE_URL"] = f"sqlite:///{copy.resolve()}"
    try:
        host("audit", "verify", expect_failure=True)
    finally:
        if saved is None:
            os.environ.pop("GOVERNANCE_DATABASE_URL")
        else:
            os.environ["GOVERNANCE_DATABASE_URL"] = saved


def chapter(people: Authenticators) -> None:
    """Run the audit chapter: heidi (auditor) reads and verifies through the server."""
    step("36. heidi (auditor) reads the whole audit trail of the model")
    people.login("heidi")
    governance("audit", "log", "--model", MODEL)
    step("37. the host signs the chain head with the Ed25519 key server init made")
    (HOME / "anchors").mkdir(parents=True, exist_ok=True)
    head = HOME / "anchors" / "head.json"
    host("audit", "checkpoint", "--out", str(head))
    governance("audit", "verify", "--checkpoint", str(head))
    step("38. a forged row, appended with the published hash rule, is caught (on a copy)")
    forge_on_a_copy()
    governance("audit", "verify")
