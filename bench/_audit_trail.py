"""The audit-verify figure of bench/registry.py: a million MACed events and the state they imply.

Setup (never timed) writes a realistic trail straight into the tables: models registered,
then per version ten events (registration, an evaluation, a card revision, an approval
request, a refused and an accepted decision, approval, stage change, promotion, alias),
and the state rows those events imply. Then, in the same run, it times the plain chain
recomputation (the baseline) and `audit verify` with MACs and state reconciliation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MODELS = 50
EVENTS_PER_VERSION = 10
PEOPLE = ("alice", "bob", "carol")
RUN = "00000000-0000-4000-8000-00000000e0a1"
STEP = timedelta(milliseconds=1)  # between consecutive events' timestamps
# Foreign keys first: the order the state tables are written in.
STATE_ORDER = (
    "registered_models",
    "model_versions",
    "model_cards",
    "model_aliases",
    "evaluation_datasets",
    "evaluation_runs",
    "approval_requests",
    "approval_decisions",
    "people",
)
_RUN = {"dataset_digest": "0" * 64, "result": {}, "decision": {}, "policy_version": "p"}


def stamp(seq: int, step: timedelta = STEP) -> datetime:
    """The timestamp `_chained_rows` gives event `seq`."""
    return START + seq * step


def _run_digest() -> str:
    from governance.domain.evidence import evaluation_contents_digest

    return evaluation_contents_digest(model="model-0", version="1.0.0", dataset="holdout", **_RUN)


def _request_id(k: int) -> str:
    return f"{k:08x}-0000-4000-8000-000000000000"


def _version_events(k: int, model: str, version: str) -> list[tuple[str, str, dict]]:
    """(event_type, actor, details) of one version's life, in the services' detail keys."""
    digest = f"{k:064x}"
    card1, card2 = f"{k + 1:064x}", f"{k + 2:064x}"
    rid, run = _request_id(k), RUN
    request = {"request_id": rid, "target_stage": "staging", "evidence_digest": digest}
    decision = {"approver": "bob", "role": "ml_engineer", "decision": "approve", "notes": ""}
    return [
        (
            "model.version_registered",
            "alice",
            {
                "artifact_digest": digest,
                "llm_config": None,
                "card_hash": card1,
                "training_data_version": "d1",
                "training_pipeline": "train.py",
                "metrics": {"accuracy": 0.91},
            },
        ),
        ("evaluation.completed", "alice", {"run_id": run, "passed": True, "accuracy": 0.92}),
        ("model.card_revised", "alice", {"revision": 2, "card_hash": card2}),
        (
            "approval.requested",
            "alice",
            {**request, "kind": "promotion", "required": {"ml_engineer": 1}},
        ),
        (
            "approval.refused",
            "alice",
            {**request, **decision, "approver": "alice", "reason": "self-approval"},
        ),
        ("approval.decided", "bob", {**request, **decision, "status": "approved"}),
        ("approval.approved", "bob", {**request, "decisions": [decision]}),
        ("model.stage_changed", "bob", {"from": "development", "to": "staging", "reason": rid}),
        ("model.promoted", "bob", {**request, "evaluation_run_id": run}),
        ("model.alias_set", "bob", {"alias": "candidate", "previous_version_id": k}),
    ]


def _events(versions: int, padding: int, models: int = MODELS):
    """Yield (event_type, model, version, actor, details) in chain order."""
    run_digest = _run_digest()
    for i in range(models):
        details = {"owner": "alice", "team": "ml", "risk_level": "high", "kind": "sklearn"}
        yield "model.registered", f"model-{i}", None, "alice", details
    for name in PEOPLE:
        yield "person.enrolled", None, None, "admin", {"name": name}
    # The one evaluation run every request points at, with the contents digest verify replays.
    yield (
        "model.evaluated",
        "model-0",
        "1.0.0",
        "alice",
        {"run_id": RUN, "contents_digest": run_digest},
    )
    for k in range(versions):
        model, version = f"model-{k % models}", f"1.{k // models}.0"
        for etype, actor, details in _version_events(k, model, version):
            yield etype, model, version, actor, details
    for i in range(padding):
        yield "evaluation.dataset_registered", None, None, "alice", {"name": f"d{i}"}


def _chained_rows(events, mac_key: bytes, batch: int, step: timedelta = STEP):
    """Batches of stored rows, chained and MACed exactly as AuditLog.append writes them.

    Event `seq` is stamped START + seq * step, so a caller can know an event's time from its
    place in the chain before the chain is written.
    """
    import uuid

    from governance.domain.audit import (
        GENESIS_HASH,
        canonical_event,
        canonical_json,
        chain_hash,
        event_mac,
    )

    prev, rows = GENESIS_HASH, []
    for seq, (etype, model, version, actor, details) in enumerate(events, start=1):
        ts = stamp(seq, step).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = (seq, str(uuid.uuid4()), ts, etype, model, version, actor, canonical_json(details))
        digest = chain_hash(prev, canonical_event(*fields))
        rows.append((*fields, prev, digest, event_mac(mac_key, digest)))
        prev = digest
        if len(rows) == batch:
            yield rows
            rows = []
    if rows:
        yield rows


def _state_rows(versions: int, models: int = MODELS) -> dict[str, list[dict]]:
    """The rows the events imply, keyed by table name (ids assigned here)."""
    base = {"created_at": START, "created_by": "alice"}
    registered = [
        {"id": i + 1, "name": f"model-{i}", "owner": "alice", "team": "ml", "description": ""}
        | {"risk_level": "high", "kind": "sklearn", "created_at": START}
        for i in range(models)
    ]
    rows: dict[str, list[dict]] = {"registered_models": registered, "model_versions": []}
    rows |= {"model_cards": [], "approval_requests": [], "approval_decisions": []}
    for k in range(versions):
        digest, vid = f"{k:064x}", k + 1
        rows["model_versions"].append(
            base
            | {"id": vid, "model_id": k % models + 1, "version": f"1.{k // models}.0"}
            | {"stage": "staging", "artifact_uri": f"sha256/{digest}", "artifact_digest": digest}
            | {"training_data_version": "d1", "training_pipeline": "train.py"}
            | {"hyperparameters": {}, "metrics": {"accuracy": 0.91}, "stage_changed_at": START}
        )
        for revision in (1, 2):
            rows["model_cards"].append(
                base
                | {"version_id": vid, "revision": revision, "card": {}}
                | {"card_hash": f"{k + revision:064x}"}
            )
        rows["approval_requests"].append(_request_row(k, vid, digest, models))
        rows["approval_decisions"].append(
            {"request_id": _request_id(k), "approver": "bob", "role": "ml_engineer"}
            | {"decision": "approve", "notes": "", "evidence_digest": digest}
            | {"policy_version": "p", "decided_at": START}
        )
    last = {k % models: k for k in range(versions)}
    rows["model_aliases"] = [
        {"model_id": m + 1, "alias": "candidate", "version_id": k + 1} for m, k in last.items()
    ]
    rows["people"] = [
        {"name": name, "totp_secret": "x", "enrolled_at": START, "enrolled_by": "admin"}
        for name in PEOPLE
    ]
    return rows


def _request_row(k: int, vid: int, digest: str, models: int = MODELS) -> dict:
    return {
        "id": _request_id(k),
        "version_id": vid,
        "evaluation_run_id": "00000000-0000-4000-8000-00000000e0a1",
        "model_name": f"model-{k % models}",
        "version": f"1.{k // models}.0",
        "target_stage": "staging",
        "requested_by": "alice",
        "version_created_by": "alice",
        "required": {"ml_engineer": 1},
        "evidence": {},
        "evidence_digest": digest,
        "policy_version": "p",
        "status": "approved",
        "created_at": START,
        "expires_at": START + timedelta(days=7),
        "status_changed_at": START,
        "completed_at": START,
    }


def _evaluation_rows() -> dict[str, list[dict]]:
    """One dataset and one run for every request to point at (setup only)."""
    base = {"created_at": START, "created_by": "alice"}
    dataset = base | {"id": 1, "name": "holdout", "digest": "0" * 64, "uri": "x", "format": "csv"}
    dataset |= {"target": "label", "group_columns": [], "n_rows": 1}
    run = base | {"id": RUN, "version_id": 1, "dataset_id": 1, "passed": True}
    run |= {"model_name": "model-0", "version": "1.0.0", "dataset": "holdout"} | _RUN
    return {"evaluation_datasets": [dataset], "evaluation_runs": [run]}


def write_trail(conn, events, mac_key: bytes, step: timedelta = STEP) -> None:
    """Insert the (event_type, model, version, actor, details) events, chained and MACed."""
    insert = (
        "INSERT INTO audit_events (seq, id, ts, event_type, model, version, actor, details,"
        " prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for rows in _chained_rows(events, mac_key, 100_000, step):
        conn.exec_driver_sql(insert, rows)


def write_state(conn, state: dict[str, list[dict]]) -> None:
    """Insert state rows keyed by table name, in foreign-key order (STATE_ORDER)."""
    from governance.store import tables

    for name in STATE_ORDER:
        if state.get(name):
            conn.execute(tables.metadata.tables[name].insert(), state[name])


def trail(
    events: int, models: int = MODELS, versions: int | None = None
) -> tuple[Iterator, dict[str, list[dict]]]:
    """The `events` events (a generator, in chain order) and the state rows they imply.

    By default every event past the fixed ones belongs to a version (`models` models, as
    many versions as fit); with `versions` given, that many versions' events are written
    and the rest of the `events` are padding (dataset registrations, no model).
    """
    fixed = models + len(PEOPLE) + 1  # models, people, the evaluation
    if versions is None:
        versions = (events - fixed) // EVENTS_PER_VERSION
    padding = events - fixed - versions * EVENTS_PER_VERSION
    if padding < 0:
        raise SystemExit(f"{events} events cannot hold {versions} versions' events")
    state = _state_rows(versions, models) | _evaluation_rows()
    return _events(versions, padding, models), state


def populate(gov, events: int, models: int = MODELS, versions: int | None = None) -> int:
    """Write `events` chained, MACed events and their state rows; return the state row count."""
    from governance.domain.audit import MAC_PURPOSE

    stream, state = trail(events, models, versions)
    with gov.engine.begin() as conn:
        write_trail(conn, stream, gov.keyring.derive(MAC_PURPOSE))
        write_state(conn, state)
    return sum(len(rows) for rows in state.values())


def measure(gov, events: int) -> dict:
    """Populate (setup), then time the plain chain and the full `audit verify` on one database."""
    from governance.domain.audit import verify_rows
    from governance.services.trust import audit
    from governance.store.audit_log import iter_rows, snapshot

    begin = time.perf_counter()
    state_rows = populate(gov, events)
    populate_seconds = time.perf_counter() - begin
    plain_seconds = None
    for _ in range(2):  # the first pass warms the page cache for both timed runs
        begin = time.perf_counter()
        with snapshot(gov.engine) as conn:
            plain = verify_rows(iter_rows(conn))
        plain_seconds = time.perf_counter() - begin
    begin = time.perf_counter()
    report = audit.verify(gov)
    elapsed = time.perf_counter() - begin
    if not plain.ok or plain.verified != events or report.chain.verified != events:
        raise SystemExit(f"verification of the bulk-loaded trail failed: {plain} {report}")
    return {
        "verify_events": events,
        "verify_state_rows": report.state_rows,
        "verify_seconds": elapsed,
        "verify_events_per_s": events / elapsed,
        "verify_plain_chain_seconds": plain_seconds,
        "verify_vs_plain_chain": elapsed / plain_seconds,
        "populate_seconds": populate_seconds,
        "populate_state_rows": state_rows,
    }
