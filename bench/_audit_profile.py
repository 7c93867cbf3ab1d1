"""The --profile half of bench/retirement.py: where the audit's time goes (never in its figures).

`Phases` wraps the audit's steps (in this process, the code is not changed) and sums wall and
thread-CPU seconds over the worker threads; `Sampler` samples the stacks of the threads
inside `audit_version`; `services_only` runs the audit's service call for every version in
one thread without Prefect; `prefect_floor` runs the same flow shape with no-op tasks.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Sampler:
    """A stdlib sampling profiler of the threads inside audit_version, counted inclusively."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples = 0
        self.inclusive: collections.Counter = collections.Counter()
        self.leaf: collections.Counter = collections.Counter()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._halt.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._halt.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                leaf, seen = _where(frame), set()
                while frame is not None:
                    seen.add(_where(frame))
                    frame = frame.f_back
                if "governance/services/monitoring/retirement_audit.py:audit_version" not in seen:
                    continue  # an idle worker, the flow's own thread or Prefect's loops
                self.samples += 1
                self.leaf[leaf] += 1
                self.inclusive.update(seen)

    def top(self, count: int = 30) -> dict:
        """The most-sampled functions as shares of the samples inside audit_version."""
        total = max(self.samples, 1)
        inclusive = [(k, v) for k, v in self.inclusive.most_common() if "threading.py" not in k][
            :count
        ]
        return {
            "samples_in_audit_version": self.samples,
            "inclusive_share": {k: round(v / total, 4) for k, v in inclusive},
            "leaf_share": {k: round(v / total, 4) for k, v in self.leaf.most_common(count // 2)},
        }


def _where(frame) -> str:
    path = frame.f_code.co_filename
    for marker in ("site-packages/", str(REPO) + "/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{frame.f_code.co_name}"


class Phases:
    """Wall and thread-CPU seconds per audit phase, summed over the worker threads."""

    def __init__(self) -> None:
        self.wall: collections.Counter = collections.Counter()
        self.cpu: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._undo: list = []

    def wrap(self, owner, attribute: str, phase: str) -> None:
        """Time every call of owner.attribute as `phase` (undone on exit)."""
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.wall[phase] += time.perf_counter() - wall
                    self.cpu[phase] += time.thread_time() - cpu
                    self.calls[phase] += 1

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def __enter__(self) -> Phases:
        from flows import retirement_audit as flow_module
        from governance.ml import drift
        from governance.ml.artifacts import ArtifactStore
        from governance.services.monitoring import retirement_audit as service

        self.wrap(service, "audit_version", "audit_version (all of one version)")
        self.wrap(service, "_Facts", "facts (one read transaction)")
        self.wrap(service, "current_window", "current_window (DB + batch parquet)")
        self.wrap(service, "load_stored_frame", "load reference parquet")
        self.wrap(drift, "dataset_drift", "dataset_drift (20 stat tests)")
        self.wrap(drift, "drift_report_html", "drift_report_html (Evidently HTML)")
        self.wrap(service, "_accuracy", "accuracy check")
        self.wrap(ArtifactStore, "put_bytes", "put report bytes (fsync)")
        self.wrap(service, "_record", "record row + audit event (write tx)")
        self.wrap(service, "audit_targets", "flow: audit_targets")
        self.wrap(flow_module, "_artifacts", "flow: table + link artifacts")
        self.wrap(flow_module, "_start_reviews", "flow: start reviews")
        return self

    def __exit__(self, *exc) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)

    def report(self) -> dict:
        """Per phase: calls, wall seconds and thread-CPU seconds summed over threads."""
        return {
            phase: {
                "calls": self.calls[phase],
                "wall_s": round(self.wall[phase], 2),
                "cpu_s": round(self.cpu[phase], 2),
            }
            for phase in self.calls
        }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its living descendants, from /proc."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return total


def services_only() -> dict:
    """The audit's service call for every version in one thread, without Prefect (--profile)."""
    from governance.bootstrap import open_governance
    from governance.services.monitoring import retirement_audit

    gov = open_governance()
    try:
        now, run = datetime.now(UTC), f"bench-services-only-{time.time_ns()}"
        targets = retirement_audit.audit_targets(gov)
        cpu, began = time.process_time(), time.perf_counter()
        for model, versions in targets.items():
            for version in versions:
                retirement_audit.audit_version(gov, model, version, audit_run=run, now=now)
        return {
            "seconds": time.perf_counter() - began,
            "cpu_s": time.process_time() - cpu,
            "versions": sum(len(v) for v in targets.values()),
        }
    finally:
        gov.close()


def prefect_floor(names: list[str], version: str, server_pid: int) -> dict:
    """The audit's flow shape (flow, fan-out sub-flow, one task per model) with no-op tasks."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.task_runners import task_runner_for
    from governance.config import load_settings

    @task(name="noop-model", cache_policy=NO_CACHE)
    def noop_model(model: str, versions: list[str], audit_run: str, now: datetime) -> list[dict]:
        return [{"model": model, "version": v} for v in versions]

    @flow(name="bench-noop-fan-out")
    def noop_fan_out(targets: dict[str, list[str]], audit_run: str, now: datetime) -> list[dict]:
        futures = [noop_model.submit(m, v, audit_run, now) for m, v in targets.items()]
        return [row for future in futures for row in future.result()]

    @flow(name="bench-noop-audit")
    def noop_audit() -> int:
        runner = task_runner_for(load_settings())
        targets = {name: [version] for name in names}
        now = datetime.now(UTC)
        return len(noop_fan_out.with_options(task_runner=runner)(targets, "noop", now))

    cpu, server_cpu = time.process_time(), process_cpu_s(server_pid)
    began = time.perf_counter()
    noop_audit()
    return {
        "seconds": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "prefect_server_cpu_s": process_cpu_s(server_pid) - server_cpu,
        "tasks": len(names),
    }
