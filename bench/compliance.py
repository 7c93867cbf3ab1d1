"""Compliance packs: seconds per pack for versions with long histories in a large trail.

Run: `.venv/bin/python bench/compliance.py` (1,000,000 events, 100 versions with 2,000
events each, a pack for every one; setup ~2 min) or `--quick` (50,000 events, 10 versions,
5 packs). Prints one JSON object.

Setup, never timed: a temporary durable SQLite file opened by the store's own engine (WAL,
`synchronous=FULL`), the signing key pair, and the trail written straight into the tables
by `bench/_compliance_store.py` (the target versions' lives) on top of
`bench/_audit_trail.py` (everyone else's), with the state rows the events imply;
`audit verify` then checks the chain, every MAC and the state against the events, so the
packs are built from a store the project itself accepts.

Timed, in the same run, on the same store:
- `governance.services.compliance.packs.build_pack` for each target version (one call per
  pack, into a new directory);
- the baseline: finding one target version's events by streaming the whole trail
  (`governance.store.audit_log.iter_rows`) and keeping the rows that name it; the scans are
  spread among the packs so both see the same machine load.

Untimed, after: one more pack built while SQLite traces every statement on the engine's
connections; each read of `audit_events` is shown with SQLite's query plan, and
`full_trail_scan_per_pack` says whether the pack read the whole trail: a plan that scans
the table, or statements that together return every event (a keyset walk over `seq`
searches an index yet reads everything).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_SECONDS = 2.0
ACTOR = "heidi"  # the example roster's auditor


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def build(gov, model: str, version: str, out: Path, now: datetime):
    """Build one pack (the call under test); its manifest."""
    from governance.services.compliance.packs import build_pack

    return build_pack(gov, model, version, out, actor=ACTOR, now=now).manifest


def summary(manifest) -> dict:
    """What a pack held: its coverage per Annex IV point, items and log slice."""
    data = manifest.model_dump(mode="json")
    return {
        "points": {str(p["point"]): p["coverage"] for p in data["points"]},
        "items": len(data["items"]),
        "log_events": data["log"]["events"],
        "retention_shortfalls": data["retention"]["shortfalls"],
        "files": sorted(data["files"]),
    }


def full_scan(gov, model: str, version: str) -> int:
    """The baseline: one version's events found by streaming every row of the trail."""
    from governance.store.audit_log import iter_rows, snapshot

    with snapshot(gov.engine) as conn:
        return sum(1 for row in iter_rows(conn) if row[4] == model and row[5] == version)


def pack_api() -> str | None:
    """None when the pack builder imports, else why not."""
    try:
        from governance.services.compliance.packs import build_pack  # noqa: F401
    except ImportError as exc:
        return f"not available: {exc}"
    return None


def timed(call, *args):
    """(wall seconds, result) of one call."""
    begin = time.perf_counter()
    result = call(*args)
    return time.perf_counter() - begin, result


def audit_queries(gov, model: str, version: str, out: Path, now: datetime) -> list[dict]:
    """Build one pack tracing every statement SQLite runs; each read of audit_events with
    SQLite's plan for it. The trace is on the driver's connections, so a statement run on a
    raw cursor (as `iter_rows` does) is seen too."""
    import sqlalchemy as sa

    seen: list[str] = []

    def trace(statement: str) -> None:
        text = statement.lstrip().lower()
        if "audit_events" in text and text.startswith(("select", "with")):
            seen.append(statement)

    def on(dbapi_conn, _record, _proxy) -> None:
        dbapi_conn.set_trace_callback(trace)

    def off(dbapi_conn, _record) -> None:
        dbapi_conn.set_trace_callback(None)

    sa.event.listen(gov.engine, "checkout", on)
    sa.event.listen(gov.engine, "checkin", off)
    try:
        build(gov, model, version, out, now)
    finally:
        sa.event.remove(gov.engine, "checkout", on)
        sa.event.remove(gov.engine, "checkin", off)
    plans = []
    with gov.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement in seen:
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
            plan = [row[-1] for row in rows]
            # Run again to count what it returns and time it alone.
            begin = time.perf_counter()
            fetched = len(raw.execute(statement).fetchall())
            seconds = time.perf_counter() - begin
            shown = " ".join(statement.split())
            plans.append(
                {"sql": shown[:300], "plan": plan, "rows": fetched, "seconds": round(seconds, 4)}
                | {"reads_every_event": _scans(plan, statement)}
            )
    return plans


def _scans(plan: list[str], statement: str) -> bool:
    """Whether a statement visits every event: its plan SCANs audit_events (the table or a
    whole index, as `count(*)` does) with no LIMIT to stop it early."""
    scanned = any(step.startswith("SCAN audit_events") for step in plan)
    return scanned and " limit " not in f" {statement.lower()} "


def whole_trail_reads(plans: list[dict], events: int) -> list[str]:
    """The reads of the whole trail: statements that visit every event, or, together, the
    statements that return every event (a keyset walk over `seq` is an index SEARCH in the
    plan, page by page, yet reads everything)."""
    found = [plan["sql"] for plan in plans if plan["reads_every_event"]]
    if sum(plan["rows"] for plan in plans) >= events:
        found.append(f"{len(plans)} statements returning every event between them")
    return found


def _slice_by_index(plans: list[dict], per_version: int) -> bool:
    """Whether the statement that returned the version's events searched the subject index."""
    subject = "(model=? AND version=?)"
    found = [p for p in plans if p["rows"] >= per_version and subject in " ".join(p["plan"])]
    return bool(found) and not any(p["reads_every_event"] for p in found)


def measure(root: Path, args: argparse.Namespace) -> dict:
    """Setup (untimed), then packs and full scans on one store; the JSON report."""
    import _compliance_store
    from anchor import fresh_governance

    from governance.services.trust import audit

    gov = fresh_governance(root)
    try:
        begin = time.perf_counter()
        store = _compliance_store.populate(gov, args.events, args.versions, args.per_version)
        populate_seconds = time.perf_counter() - begin
        begin = time.perf_counter()
        verified = audit.verify(gov)
        if verified.chain.verified != args.events:
            raise SystemExit(f"setup: audit verify saw {verified.chain.verified} events")
        verify_seconds = time.perf_counter() - begin
        _check_counts(gov, store, args.per_version)
        targets = store.targets[: args.packs]
        # After the last event, so every event is history; one day later, like a next morning.
        now = _compliance_store.end_of_trail(args.events) + timedelta(days=1)
        every = len(targets) / args.baseline_scans
        scans_at = {round(i * every) for i in range(args.baseline_scans)}
        unavailable = pack_api()
        full_scan(gov, targets[0].model, targets[0].version)  # warms the page cache for both
        packs, scans, manifests = [], [], []
        if unavailable is None:  # one untimed pack first: imports and caches
            build(gov, targets[-1].model, targets[-1].version, root / "warm-up", now)
        for i, t in enumerate(targets):
            if i in scans_at:
                seconds, found = timed(full_scan, gov, t.model, t.version)
                if found < args.per_version:  # each pack built adds its own event
                    raise SystemExit(f"setup: {t.model}@{t.version} has {found} events")
                scans.append(seconds)
            if unavailable is None:
                out = root / "packs" / f"{t.model}@{t.version}"
                seconds, manifest = timed(build, gov, t.model, t.version, out, now)
                packs.append(seconds)
                manifests.append(manifest)
        plans = []
        if unavailable is None:
            t = targets[0]
            plans = audit_queries(gov, t.model, t.version, root / "recorded", now)
    finally:
        gov.close()
    return report(args, store, packs, scans, manifests, plans, unavailable) | {
        "setup": {
            "populate_seconds": round(populate_seconds, 1),
            "audit_verify_seconds": round(verify_seconds, 1),
            "state_rows": store.state_rows,
            "verified": "chain, MACs and state reconciled",
        }
    }


def _check_counts(gov, store, per_version: int) -> None:
    """Setup check: every target version has exactly `per_version` events naming it."""
    import sqlalchemy as sa

    from governance.store.tables_trust import audit_events as e

    query = sa.select(sa.func.count()).where(
        e.c.model == sa.bindparam("m"), e.c.version == sa.bindparam("v")
    )
    with gov.engine.connect() as conn:
        for t in store.targets:
            found = conn.execute(query, {"m": t.model, "v": t.version}).scalar_one()
            if found != per_version:
                raise SystemExit(f"setup: {t.model}@{t.version} has {found} events")


def report(args, store, packs, scans, manifests, plans, unavailable) -> dict:
    """The JSON report."""
    scan_p50 = statistics.median(scans)
    out: dict = {
        "events_in_store": store.events,
        "packs": len(packs),
        "events_per_version": args.per_version,
        "versions_in_store": len(store.targets),
        "pack_api": unavailable or "governance.services.compliance.packs.build_pack",
        "baseline_full_scan_seconds_p50": round(scan_p50, 4),
        "baseline_full_scan_seconds_max": round(max(scans), 4),
        "baseline_full_scans": len(scans),
    }
    if packs:
        p50 = statistics.median(packs)
        out |= {
            "seconds_per_pack_p50": round(p50, 4),
            "seconds_per_pack_p95": round(percentile(packs, 0.95), 4),
            "seconds_per_pack_max": round(max(packs), 4),
            "ratio_pack_to_full_scan": round(p50 / scan_p50, 3),
            "audit_queries_per_pack": len(plans),
            "audit_rows_fetched_per_pack": sum(plan["rows"] for plan in plans),
            "full_trail_scan_per_pack": bool(whole_trail_reads(plans, store.events)),
            "whole_trail_reads": whole_trail_reads(plans, store.events),
            "whole_trail_reads_seconds": round(
                sum(plan["seconds"] for plan in plans if plan["reads_every_event"]), 4
            ),
            "slice_found_by_index": _slice_by_index(plans, args.per_version),
            "audit_query_plans": plans,
            "first_pack": summary(manifests[0]),
        }
        out["targets_met"] = {
            "seconds_per_pack_max_under_2": max(packs) < TARGET_SECONDS,
            "version_events_found_by_index": out["slice_found_by_index"],
            "no_statement_reads_every_event": not out["full_trail_scan_per_pack"],
        }
    else:
        out |= {"seconds_per_pack_p50": None, "seconds_per_pack_max": None}
    out["config"] = {
        "backend": "sqlite (store engine: WAL, synchronous=FULL)",
        "baseline": "iter_rows over the whole trail, filtered on model and version",
        "cpus": os.cpu_count(),
        "load_average_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options; --quick sets small defaults for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events in the store (1,000,000)")
    parser.add_argument("--versions", type=int, help="target versions (100)")
    parser.add_argument("--events-per-version", dest="per_version", type=int, default=2000)
    parser.add_argument("--packs", type=int, help="packs to time (every target version)")
    parser.add_argument("--baseline-scans", type=int, help="full scans to time (5)")
    parser.add_argument("--quick", action="store_true", help="50,000 events, 5 packs")
    args = parser.parse_args(argv)
    quick = {"events": 50_000, "versions": 10, "packs": 5, "baseline_scans": 3}
    full = {"events": 1_000_000, "versions": 100, "packs": None, "baseline_scans": 5}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.packs = min(args.packs or args.versions, args.versions)
    args.baseline_scans = max(1, min(args.baseline_scans, args.packs))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run in a temporary directory and print the JSON report; 1 if no pack could be built."""
    args = parse_args(argv)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-compliance-") as root:
        result = measure(Path(root), args)
    result["config"]["load_average_1_5_15_start"] = [round(x, 2) for x in load_start]
    print(json.dumps(result, indent=2))
    return 0 if result["packs"] else 1


if __name__ == "__main__":
    sys.exit(main())
