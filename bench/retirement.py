"""Retirement-audit benchmark: the nightly audit of N production models against Evidently's Report.

Prints one JSON object: the wall time of the whole retirement-audit flow (run in this process
against a local Prefect server, default thread task runner) over N models, each with one
production version, a 5,000-row reference sample and a 5,000-row ingested window of 20
numeric features, a quarter of them shifted so they drift; the mean time of Evidently's own
DataDriftPreset Report (`drift.evidently_verdicts`) on a sample of those models, measured in
the same run; the ratio of that Report's cost extrapolated to N models over the audit; and
the share of the audit's recorded per-column verdicts identical to the Report's. See
bench/README.md for what each key means.

    .venv/bin/python bench/retirement.py                # 1000 models (~6 min with set-up)
    .venv/bin/python bench/retirement.py --models 200 --profile
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

VERSION = "1.0.0"
ROWS = 5000  # reference and current rows per model (the policy's reference_rows keeps 5000)
FEATURES = [f"f{i:02d}" for i in range(20)]
SHIFTED_FEATURES = 6  # of 20: drift share 0.3, the card's max_drift_share, so drifting
SHIFT_EVERY = 4  # model i is shifted when i % 4 == 0: a quarter of the models
PARITY_SAMPLE = 20
SCORE_TOLERANCE = 1e-9
TARGET_AUDIT_S = 120.0  # for 1,000 models on 2 cores
SETUP_CHUNK = 100  # models per write transaction for the stage moves and references


def governance_env(root: Path) -> dict[str, str]:
    """GOVERNANCE_* variables for a fresh home: SQLite database, artifacts, key, example policy."""
    from governance.config import EXAMPLE_POLICY

    return {
        "GOVERNANCE_HOME": str(root),
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{root / 'governance.db'}",
        "GOVERNANCE_ARTIFACT_ROOT": str(root / "artifacts"),
        "GOVERNANCE_POLICY_FILE": str(EXAMPLE_POLICY),
        "GOVERNANCE_SECRET_KEY_FILE": str(root / "secret.key"),
        "GOVERNANCE_SESSION_FILE": str(root / "session.json"),
    }


def model_name(i: int) -> str:
    """The name of the i-th benchmark model."""
    return f"bench-{i:04d}"


def is_shifted(i: int) -> bool:
    """Whether model i's current window is shifted (a quarter of the models)."""
    return i % SHIFT_EVERY == 0


# --- set-up (never timed) ------------------------------------------------------------------


def feature_scales():
    """Per-feature mean and standard deviation, the same for every model."""
    import numpy as np

    rng = np.random.default_rng(20)
    return rng.uniform(-5, 5, len(FEATURES)), rng.uniform(0.5, 3, len(FEATURES))


def model_frames(i: int):
    """Model i's reference and current frames: normal features, 6 of 20 moved +1 std if shifted."""
    import numpy as np
    import pandas as pd

    loc, scale = feature_scales()
    rng = np.random.default_rng(1000 + i)
    reference = rng.normal(loc, scale, size=(ROWS, len(FEATURES)))
    current = rng.normal(loc, scale, size=(ROWS, len(FEATURES)))
    if is_shifted(i):
        current[:, :SHIFTED_FEATURES] += scale[:SHIFTED_FEATURES]
    return pd.DataFrame(reference, columns=FEATURES), pd.DataFrame(current, columns=FEATURES)


def fitted_classifier():
    """A tiny LogisticRegression on the 20 features, fitted on reference-like rows."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    loc, scale = feature_scales()
    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(loc, scale, size=(2000, len(FEATURES))), columns=FEATURES)
    y = ((x["f00"] - loc[0]) / scale[0] + (x["f10"] - loc[10]) / scale[10] > 0).astype(int)
    return LogisticRegression(max_iter=500).fit(x, y)


def batch_file(i: int, current, estimator, directory: Path) -> Path:
    """Model i's current window as a parquet batch: features, prediction, label (5% wrong)."""
    import numpy as np

    rng = np.random.default_rng(5000 + i)
    predicted = estimator.predict(current)
    wrong = rng.random(len(current)) < 0.05
    batch = current.assign(prediction=predicted, label=np.where(wrong, 1 - predicted, predicted))
    path = directory / f"{model_name(i)}.parquet"
    batch.to_parquet(path, index=False)
    return path


def populate(root: Path, models: int, now: datetime) -> dict[str, float]:
    """Migrate; register, seed to production, store the reference and ingest a batch per model."""
    import skops.io as sio

    from governance.bootstrap import open_governance
    from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
    from governance.keyring import create_secret_key
    from governance.reports.card_yaml import load_card_yaml
    from governance.services.monitoring import batches, references
    from governance.services.registry import versions as registry_versions
    from governance.services.registry.versions import VersionSpec
    from governance.services.rollout.production import transition_in
    from governance.store.schema import upgrade

    spent: dict[str, float] = {}
    create_secret_key(root / "secret.key")
    bare = open_governance(check_schema=False)
    upgrade(bare.engine)
    bare.close()
    estimator = fitted_classifier()
    blob = sio.dumps(estimator)
    card = load_card_yaml((REPO / "examples" / "cards" / "churn-classifier.yaml").read_text())
    # Trained a month ago and reviewed now: neither age nor a stale card decides a verdict.
    recent = (now - timedelta(days=30)).date()
    card = card.model_copy(update={"risk_level": RiskLevel.medium, "training_date": recent})
    batch_dir = root / "batches"
    batch_dir.mkdir()
    gov = open_governance()
    try:
        began = time.perf_counter()
        for i in range(models):
            name = model_name(i)
            model = RegisteredModel(
                name=name,
                owner="alice",
                team="t",
                risk_level=RiskLevel.medium,
                kind=ModelKind.sklearn,
            )
            spec = VersionSpec(name=name, version=VERSION, created_by="alice")
            registry_versions.register_version(
                gov, spec, card, artifact=blob, now=now, new_model=model
            )
        spent["register_s"] = time.perf_counter() - began
        began = time.perf_counter()
        paths = []
        for start in range(0, models, SETUP_CHUNK):
            chunk = range(start, min(start + SETUP_CHUNK, models))
            frames = {i: model_frames(i) for i in chunk}
            # The move promote-model makes after its checks, and the reference it stores there.
            with gov.store.write() as tx:
                for i in chunk:
                    name = model_name(i)
                    for stage in (LifecycleStage.staging, LifecycleStage.production):
                        transition_in(tx, name, VERSION, stage, actor="bench", now=now)
                    found = tx.registry.get_version(name, VERSION)
                    references.store_reference_in(
                        tx, gov, found, frames[i][0], source="bench", actor="bench", now=now
                    )
            paths += [batch_file(i, frames[i][1], estimator, batch_dir) for i in chunk]
        spent["seed_and_reference_s"] = time.perf_counter() - began
        began = time.perf_counter()
        for i, path in enumerate(paths):
            batches.ingest(
                gov,
                model=model_name(i),
                version=VERSION,
                path=path,
                labels="label",
                predictions="prediction",
                actor="bench",
                now=now,
            )
            path.unlink()
        spent["ingest_s"] = time.perf_counter() - began
    finally:
        gov.close()
    return spent


# --- the audit -----------------------------------------------------------------------------


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


def run_audit(profile: bool, server_pid: int) -> tuple[float, object, dict]:
    """The whole retirement-audit flow in this process, timed; its final state and a profile."""
    from flows.retirement_audit import retirement_audit_flow

    with ExitStack() as stack:
        phases = stack.enter_context(Phases()) if profile else None
        sampler = stack.enter_context(Sampler()) if profile else None
        cpu, server_cpu = time.process_time(), process_cpu_s(server_pid)
        began = time.perf_counter()
        state = retirement_audit_flow(models=None, return_state=True)
        elapsed = time.perf_counter() - began
        cpu, server_cpu = time.process_time() - cpu, process_cpu_s(server_pid) - server_cpu
    if state.name != "Audited":
        raise RuntimeError(f"retirement-audit ended {state.name}: {state.message}")
    found = {"audit_cpu_seconds": {"bench_process": cpu, "prefect_server": server_cpu}}
    if profile:
        found |= {"phases": phases.report(), "sampled": sampler.top()}
    return elapsed, state, found


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


def prefect_floor(models: int, server_pid: int) -> dict:
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
        targets = {model_name(i): [VERSION] for i in range(models)}
        now = datetime.now(UTC)
        return len(noop_fan_out.with_options(task_runner=runner)(targets, "noop", now))

    cpu, server_cpu = time.process_time(), process_cpu_s(server_pid)
    began = time.perf_counter()
    noop_audit()
    return {
        "seconds": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "prefect_server_cpu_s": process_cpu_s(server_pid) - server_cpu,
        "tasks": models,
    }


def audit_rows(audit_run: str) -> dict:
    """This run's recorded result per model, read through latest_findings."""
    from governance.bootstrap import open_governance
    from governance.services.monitoring import retirement_review

    gov = open_governance()
    try:
        rows = retirement_review.latest_findings(gov)
    finally:
        gov.close()
    return {r.model_name: r for r in rows if r.audit_run == audit_run}


def drift_figures(row) -> dict:
    """The drift finding of one audit row (its status and figures)."""
    [finding] = [f for f in row.findings if f["check"] == "drift"]
    return finding


# --- Evidently's Report, and parity ----------------------------------------------------------


def sample_models(models: int) -> list[int]:
    """PARITY_SAMPLE models spread over the range, shifted ones in their share (a quarter)."""
    count = min(PARITY_SAMPLE, models)
    shifted = [i for i in range(models) if is_shifted(i)]
    plain = [i for i in range(models) if not is_shifted(i)]
    want = max(1, round(count / SHIFT_EVERY))
    pick_shifted = [shifted[k * len(shifted) // want] for k in range(want)]
    rest = count - len(pick_shifted)
    pick_plain = [plain[k * len(plain) // rest] for k in range(rest)]
    return sorted(pick_shifted + pick_plain)


def stored_frames(gov, i: int, now: datetime):
    """The reference and current window the audit read for model i, read back from the store."""
    from governance.services.monitoring.references import get_reference, load_stored_frame
    from governance.services.monitoring.windows import current_window

    found, profile = get_reference(gov, model_name(i), VERSION)
    window = current_window(gov, found, profile, drift_days=7, accuracy_days=30, now=now)
    return load_stored_frame(gov, profile.digest), window.features


def evidently_and_parity(models: int, rows: dict, now: datetime) -> dict:
    """Time Evidently's DataDriftPreset Report on the sample; compare verdicts with the audit's."""
    from governance.bootstrap import open_governance
    from governance.ml import drift

    picked = sample_models(models)
    gov = open_governance()
    try:
        frames = {i: stored_frames(gov, i, now) for i in picked}
    finally:
        gov.close()
    drift.evidently_verdicts(*frames[picked[0]])  # warm-up, untimed: lazy set-up in Evidently
    seconds, same, compared, differing = [], 0, 0, []
    for i in picked:
        began = time.perf_counter()
        theirs = drift.evidently_verdicts(*frames[i])
        seconds.append(time.perf_counter() - began)
        ours = {c["column"]: c for c in drift_figures(rows[model_name(i)])["figures"]["columns"]}
        for column in theirs:
            compared += 1
            mine = ours.get(column.column)
            agree = (
                mine is not None
                and mine["method"] == column.method
                and mine["drifted"] == column.drifted
                and abs(mine["score"] - column.score) <= SCORE_TOLERANCE
            )
            same += agree
            if not agree and len(differing) < 5:
                differing.append(
                    {"model": model_name(i), "evidently": column.model_dump(), "ours": mine}
                )
        compared += len(set(ours) - {c.column for c in theirs})  # columns only we tested
    return {
        "evidently_report_seconds_per_model": statistics.mean(seconds),
        "verdict_parity": same / compared if compared else 0.0,
        "report_seconds_median": statistics.median(seconds),
        "report_seconds_max": max(seconds),
        "sample_models": [model_name(i) for i in picked],
        "sample_shifted_models": sum(is_shifted(i) for i in picked),
        "verdicts_compared": compared,
        "verdicts_differing": differing,
    }


# --- main ----------------------------------------------------------------------------------


def peak_rss_mb() -> dict[str, float]:
    """Peak resident set of this process and of its largest waited-for child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "self": round(own, 1),
        "children": round(children, 1),
        "max": round(max(own, children), 1),
    }


_TOP_LEVEL = ("evidently_report_seconds_per_model", "verdict_parity")


def summarise(models: int, rows: dict, state, audit_s: float, extra: dict) -> dict:
    """The JSON report."""
    counts = collections.Counter(r.verdict for r in rows.values())
    drift_status = collections.Counter(drift_figures(r)["status"] for r in rows.values())
    drifting = [name for name, r in rows.items() if drift_figures(r)["status"] == "breached"]
    expected = {model_name(i) for i in range(models) if is_shifted(i)}
    evid = extra["evidently"]
    per_model = evid["evidently_report_seconds_per_model"]
    cpu = extra["profile"]["audit_cpu_seconds"]
    profile = {k: v for k, v in extra["profile"].items() if k != "audit_cpu_seconds"}
    return {
        "audit_seconds": round(audit_s, 3),
        "target_audit_seconds": TARGET_AUDIT_S if models == 1000 else None,
        "met": audit_s <= TARGET_AUDIT_S if models == 1000 else None,
        "audit_seconds_per_model": audit_s / models,
        "evidently_report_seconds_per_model": per_model,
        "ratio": per_model * models / audit_s,
        "verdict_parity": evid["verdict_parity"],
        "models": models,
        "versions_checked": len(rows),
        "drifting_models": len(drifting),
        "drifting_as_built": sorted(drifting) == sorted(expected),
        "drift_status": dict(drift_status),
        "verdicts": {v: counts.get(v, 0) for v in ("retain", "re-validate", "retire")},
        "reports_written": sum(1 for r in rows.values() if r.report_digest),
        "flow_state": {"name": state.name, "message": state.message},
        "evidently": {k: v for k, v in evid.items() if k not in _TOP_LEVEL},
        "setup_seconds": round(extra["setup_s"], 1),
        "setup_phases_s": {k: round(v, 1) for k, v in extra["setup_phases"].items()},
        "peak_rss_mb": peak_rss_mb(),
        "config": {
            "rows_per_side": ROWS,
            "features": len(FEATURES),
            "shifted_features": SHIFTED_FEATURES,
            "shift": "+1 std",
            "task_runner": os.environ.get("GOVERNANCE_TASK_RUNNER", "threads (default)"),
            "task_workers": extra["task_workers"],
            "server": "prefect server start, 127.0.0.1, SQLite (deployments/local_stack.py)",
            "database": "SQLite (governance store)",
            "cpus": os.cpu_count(),
            "load_average_at_start": extra["load_at_start"],
            "load_average_before_audit": extra["load_before_audit"],
            "load_average_at_end": list(os.getloadavg()),
            "total_seconds": round(time.perf_counter() - extra["begin"], 1),
        },
        "audit_cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        **({"profile": profile} if profile else {}),
    }


def flush_prefect_logs() -> None:
    """Send the flow's buffered log lines while the server still answers."""
    if "prefect" in sys.modules:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000, help="production models to audit")
    parser.add_argument(
        "--profile", action="store_true", help="sample every thread's stack during the audit"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start a server, set up N monitored models, run the audit and Evidently, stop, print."""
    args = parse_args(argv)
    if args.models < 1:
        raise SystemExit("--models must be at least 1")
    begin, load_at_start = time.perf_counter(), list(os.getloadavg())
    with (
        tempfile.TemporaryDirectory(prefix="governance-bench-retire-") as tmp,
        ExitStack() as stack,
    ):
        work = Path(tmp)
        from deployments.local_stack import LocalStack, free_port

        local = LocalStack(home=work, port=free_port())
        # Set before Prefect is imported here: its settings are read from the environment.
        os.environ.update(governance_env(work))
        os.environ.update(
            {key: local.env()[key] for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_UI_URL")}
        )
        stack.callback(local.stop)  # only the server this script started, by PID
        try:
            local.start_server()
            now = datetime.now(UTC) - timedelta(minutes=5)
            phases = populate(work, args.models, now)
            setup_s = time.perf_counter() - begin
            from governance.config import load_settings

            load_before_audit = list(os.getloadavg())
            audit_s, state, profile = run_audit(args.profile, local.processes[0].pid)
            rows = audit_rows(str(state.state_details.flow_run_id))
            evid = evidently_and_parity(args.models, rows, datetime.now(UTC))
            if args.profile:  # after the figures: what the audit costs without Prefect, and back
                profile["services_only_one_thread"] = services_only()
                profile["prefect_noop_fan_out"] = prefect_floor(args.models, local.processes[0].pid)
            extra = {
                "evidently": evid,
                "setup_s": setup_s,
                "setup_phases": phases,
                "task_workers": load_settings().task_workers,
                "begin": begin,
                "load_at_start": load_at_start,
                "load_before_audit": load_before_audit,
                "profile": profile,
            }
        except BaseException:
            log = work / "server.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-40:]
                print("--- server.log ---", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            try:
                flush_prefect_logs()
            finally:
                local.stop()  # before the RSS read: a child's peak counts once it is waited for
        result = summarise(args.models, rows, state, audit_s, extra)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
