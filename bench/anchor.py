"""What anchoring more often costs: one audit-anchor write against one audit event append.

Run: `.venv/bin/python bench/anchor.py [--events 100000] [--anchors 40] [--between 10]`.
Prints one JSON object. Everything runs on one temporary durable SQLite file opened by the
store's own engine, with a trail bulk-written first (`bench/_audit_trail.py`, never timed).

Timed, in the same run:
- the baseline: one audit event appended in its own write transaction (the cheapest state
  change the control plane makes), `--anchors` times;
- `services.trust.audit.anchor` (what the audit-anchor flow runs), `--anchors` times, each
  after `--between` new events: check the newest anchor's signature and hash, count the
  events, verify the chain and MACs since it, sign, write and fsync a new file;
- the same anchor once the directory already holds `--earlier` anchor files (a day of
  anchoring once a minute is 1440), since each anchor reads the directory.

From the anchor's CPU seconds it gives the CPU share of anchoring at several intervals:
share = CPU seconds per anchor / interval, as a fraction of one CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INTERVALS = (3600, 900, 300, 60)


def fresh_governance(root: Path):
    """A governance instance on a new, migrated SQLite file under `root` (engine as is)."""
    from governance.bootstrap import open_governance
    from governance.config import EXAMPLE_POLICY, Settings
    from governance.keyring import create_secret_key
    from governance.signing import generate_keypair
    from governance.store.schema import upgrade

    settings = Settings(
        home=root,
        database_url=f"sqlite:///{root / 'governance.db'}",
        artifact_root=root / "artifacts",
        policy_file=EXAMPLE_POLICY,
        anchor_dir=root / "anchors",
    )
    create_secret_key(settings.resolved_secret_key_file)
    generate_keypair(settings.resolved_signing_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    return open_governance(settings)


def append_one(gov, now: datetime) -> None:
    """One audit event in its own durable write transaction."""
    with gov.store.write() as tx:
        tx.audit.append("bench.tick", actor="bench", now=now, details={"n": 1})


def timed(call) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Median wall and CPU milliseconds, and the 95th percentile of wall time."""
    walls = sorted(wall for wall, _ in samples)
    return {
        "wall_p50_ms": statistics.median(walls) * 1e3,
        "wall_p95_ms": walls[min(len(walls) - 1, int(0.95 * len(walls)))] * 1e3,
        "cpu_p50_ms": statistics.median(cpu for _, cpu in samples) * 1e3,
    }


def measure(root: Path, events: int, anchors: int, between: int, earlier: int) -> dict:
    """Populate (setup), then time appends, anchors, and anchors over a full directory."""
    import _audit_trail

    from governance.services.trust import audit

    gov = fresh_governance(root)
    try:
        _audit_trail.populate(gov, events)
        audit.anchor(gov, START)  # the first anchor verifies the whole trail: setup
        clock = iter(START + timedelta(seconds=i + 1) for i in range(10**9))
        appends = [timed(lambda: append_one(gov, next(clock))) for _ in range(anchors)]
        anchored = []
        for _ in range(anchors):
            for _ in range(between):
                append_one(gov, next(clock))
            anchored.append(timed(lambda: audit.anchor(gov, next(clock))))
        directory = gov.settings.resolved_anchor_dir
        _copy_anchors(directory, earlier)
        full = []
        for _ in range(max(5, anchors // 4)):
            for _ in range(between):
                append_one(gov, next(clock))
            full.append(timed(lambda: audit.anchor(gov, next(clock))))
        verified = audit.verify(gov, audit.load_checkpoints(directory=directory))
        # + 1: the policy.loaded event the first write of this process appends.
        expected = events + anchors * (between + 1) + len(full) * between + 1
        if verified.chain.verified != expected:
            raise SystemExit(f"unexpected trail after the run: {verified}")
    finally:
        gov.close()
    return report(appends, anchored, full, events, between, earlier)


def _copy_anchors(directory: Path, count: int) -> None:
    """Fill the directory with `count` more files as old anchors (copies of the oldest)."""
    oldest = sorted(directory.glob("*.json"))[0]
    text = oldest.read_text()
    for i in range(count):
        (directory / f"checkpoint-000000000000-old{i:06d}.json").write_text(text)


def report(appends, anchored, full, events, between, earlier) -> dict:
    """The JSON report: figures, the ratio to the baseline, and the CPU share per interval."""
    append, anchor, crowded = summary(appends), summary(anchored), summary(full)
    cpu_s = anchor["cpu_p50_ms"] / 1e3
    crowded_cpu_s = crowded["cpu_p50_ms"] / 1e3
    return {
        "anchor": anchor,
        "anchor_with_earlier_files": crowded,
        "baseline_event_append": append,
        "ratios": {
            "anchor_wall_vs_event_append": anchor["wall_p50_ms"] / append["wall_p50_ms"],
            "anchor_cpu_vs_event_append": anchor["cpu_p50_ms"] / max(append["cpu_p50_ms"], 1e-6),
            "crowded_anchor_wall_vs_anchor": crowded["wall_p50_ms"] / anchor["wall_p50_ms"],
        },
        "cpu_share_of_one_cpu": {
            f"every_{seconds}s": {
                "anchors_per_hour": 3600 / seconds,
                "share": cpu_s / seconds,
                "share_with_earlier_files": crowded_cpu_s / seconds,
            }
            for seconds in INTERVALS
        },
        "config": {
            "trail_events": events,
            "events_between_anchors": between,
            "earlier_anchor_files": earlier,
            "backend": "sqlite (store engine: WAL, synchronous=FULL)",
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
    }


def main() -> None:
    """Parse options, run in a temporary directory, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--anchors", type=int, default=40)
    parser.add_argument("--between", type=int, default=10)
    parser.add_argument("--earlier", type=int, default=1440)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-anchor-") as root:
        result = measure(Path(root), args.events, args.anchors, args.between, args.earlier)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
