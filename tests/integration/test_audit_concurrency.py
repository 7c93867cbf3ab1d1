"""Several writer processes on one database: the audit chain stays gapless, MACed and in step
with the state tables."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

from governance.services.registry import versions as registry_versions
from governance.services.trust import audit

WORKERS = 6
ROUNDS = 25

# Each worker registers ROUNDS versions with its own distinct artifacts and moves its alias
# after each one, so artifact writes and artifact-free writes interleave across processes.
WORKER = """
import json, sys, time
from pathlib import Path
from datetime import UTC, datetime

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance.bootstrap import open_governance
from governance.config import Settings
from governance.domain.models import ModelKind, RegisteredModel, RiskLevel
from governance.domain.cards import ModelCard
from governance.services.registry import versions as registry
from governance.services.registry.versions import VersionSpec

args = json.loads(sys.argv[1])
worker, rounds, home = args["worker"], args["rounds"], Path(args["home"])
settings = Settings(
    home=home / f"worker{worker}",
    database_url=args["url"],
    artifact_root=home / "artifacts",
    policy_file=args["policy"],
    secret_key_file=args["key"],
)
gov = open_governance(settings)
card = ModelCard.model_validate_json(args["card"])
model = RegisteredModel(
    name="shared", owner="alice", team="ml", risk_level=RiskLevel.high, kind=ModelKind.sklearn
)
x = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
blobs = [
    sio.dumps(LogisticRegression(C=worker * 1000 + i + 1.0).fit(x, y)) for i in range(rounds)
]
(home / f"ready{worker}").touch()
while not (home / "go").exists():
    time.sleep(0.01)
for i, blob in enumerate(blobs):
    now = datetime.now(UTC)
    spec = VersionSpec(name="shared", version=f"{worker + 1}.{i}.0", created_by=f"w{worker}")
    registry.register_version(gov, spec, card, artifact=blob, now=now, new_model=model)
    registry.set_alias(gov, "shared", f"w{worker}", spec.version, actor=f"w{worker}", now=now)
gov.close()
"""


def start_workers(gov, card, tmp_path: Path) -> list[subprocess.Popen]:
    """Launch the writers and release them together once all are ready."""
    root = Path(__file__).resolve().parents[2]
    procs = []
    for worker in range(WORKERS):
        args = {
            "worker": worker,
            "rounds": ROUNDS,
            "home": str(tmp_path),
            "url": gov.settings.resolved_database_url,
            "policy": str(gov.settings.resolved_policy_file),
            "key": str(gov.settings.resolved_secret_key_file),
            "card": card.model_dump_json(),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(args)],
                cwd=root,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{w}").exists() for w in range(WORKERS)):
        assert all(p.poll() is None for p in procs), [p.communicate()[1] for p in procs]
        assert time.monotonic() < deadline, "writers did not get ready in time"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    return procs


def test_concurrent_writers_keep_one_gapless_chain(gov, example_card, tmp_path):
    procs = start_workers(gov, example_card, tmp_path)
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    events = audit.history(gov)
    # one policy.loaded and one model.registered by whichever worker came first (the others
    # find both), then two events per round
    assert len(events) == 2 + WORKERS * ROUNDS * 2
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.event_type for e in events].count("model.registered") == 1
    assert [e.event_type for e in events].count("policy.loaded") == 1
    report = audit.verify(gov)
    assert report.chain.verified == len(events) and report.chain.head_hash == events[-1].hash
    assert report.chain.macs_checked and report.state_rows > 0
    for worker in range(WORKERS):
        mine = [e for e in events if e.actor == f"w{worker}"]
        registered = [e.version for e in mine if e.event_type == "model.version_registered"]
        assert registered == [f"{worker + 1}.{i}.0" for i in range(ROUNDS)]
        assert registry_versions.resolve(gov, f"shared@w{worker}").version == registered[-1]

    versions = registry_versions.search(gov, name="shared")
    assert len(versions) == WORKERS * ROUNDS
    assert len({v.artifact_digest for v in versions}) == WORKERS * ROUNDS
    # the writers really overlapped: some worker's events are not one contiguous block
    actors = [e.actor for e in events[1:]]
    assert sum(a != b for a, b in pairwise(actors)) > WORKERS
