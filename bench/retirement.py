"""Retirement-audit benchmark: the nightly audit of N production models against Evidently's Report.

Prints one JSON object: the wall time of the whole retirement-audit flow (run in this process
against a local Prefect server, default thread task runner, drift reports rendered in one
spawned worker process) over N models, each with one production version, a 5,000-row
reference sample and a 5,000-row ingested window of 20 numeric features, a quarter of them
shifted so they drift; against it, in the same run, Evidently's own DataDriftPreset Report
(`drift.evidently_verdicts`) on every model (or `--evidently-models` of them, extrapolated
and labelled so), run in one spawned process per CPU. Two ratios: wall clock
(`wall_ratio`), and CPU seconds per model (`cpu_ratio`), ours counting every process of the
run (this one with all its threads, the report worker, the resource tracker, the Prefect
server). And the share of the audit's recorded per-column verdicts identical to the
Report's. `evidently_baseline` says what the baseline is; bench/README.md defines each key.

    .venv/bin/python bench/retirement.py                # 1000 models (~20 min on 2 CPUs)
    .venv/bin/python bench/retirement.py --models 200 --evidently-models 40 --profile
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

VERSION = "1.0.0"
ROWS = 5000  # reference and current rows per model (the policy's reference_rows keeps 5000)
FEATURES = [f"f{i:02d}" for i in range(20)]
SHIFTED_FEATURES = 6  # of 20: drift share 0.3, the card's max_drift_share, so drifting
SHIFT_EVERY = 4  # model i is shifted when i % 4 == 0: a quarter of the models
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
    from governance.services.registry import versions
    from governance.services.registry.versions import VersionSpec
    from governance.services.rollout.production import _transition_in as transition_in
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
            versions.register_version(gov, spec, card, artifact=blob, now=now, new_model=model)
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


def run_audit(profile: bool, server_pid: int) -> tuple[float, object, dict]:
    """The whole retirement-audit flow in this process, timed; its state, CPU and a profile."""
    from _audit_profile import Phases, Sampler
    from _cpu import Contention, TreeCpu, describe

    from flows.retirement_audit import retirement_audit_flow

    with ExitStack() as stack:
        phases = stack.enter_context(Phases()) if profile else None
        sampler = stack.enter_context(Sampler()) if profile else None
        # Entered last, so it stops first, right after the flow returns.
        meter = stack.enter_context(TreeCpu(partial(describe, server_pids={server_pid})))
        contention = stack.enter_context(Contention())
        began = time.perf_counter()
        state = retirement_audit_flow(models=None, return_state=True)
        elapsed = time.perf_counter() - began
    if state.name != "Audited":
        raise RuntimeError(f"retirement-audit ended {state.name}: {state.message}")
    found = {"audit_cpu_seconds": meter.report(), "contention": contention.figures}
    if profile:
        found |= {"phases": phases.report(), "sampled": sampler.top()}
    return elapsed, state, found


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


def sample_models(models: int, count: int) -> list[int]:
    """All models, or `count` spread over the range with shifted ones in their share."""
    if count >= models:
        return list(range(models))
    shifted = [i for i in range(models) if is_shifted(i)]
    plain = [i for i in range(models) if not is_shifted(i)]
    want = max(1, round(count / SHIFT_EVERY))
    pick_shifted = [shifted[k * len(shifted) // want] for k in range(want)]
    rest = count - len(pick_shifted)
    pick_plain = [plain[k * len(plain) // rest] for k in range(rest)]
    return sorted(pick_shifted + pick_plain)


def parity(rows: dict, theirs: dict[str, list[dict]]) -> dict:
    """Share of (model, column) verdicts in the audit's drift finding identical to the Report's."""
    same, compared, models_same, differing = 0, 0, 0, []
    for model, columns in theirs.items():
        ours = {c["column"]: c for c in drift_figures(rows[model])["figures"]["columns"]}
        agree_all = set(ours) == {c["column"] for c in columns}
        for column in columns:
            mine = ours.get(column["column"])
            agree = (
                mine is not None
                and mine["method"] == column["method"]
                and mine["drifted"] == column["drifted"]
                and abs(mine["score"] - column["score"]) <= SCORE_TOLERANCE
            )
            same += agree
            agree_all &= agree
            if not agree and len(differing) < 5:
                differing.append({"model": model, "evidently": column, "ours": mine})
        compared += len(columns) + len(set(ours) - {c["column"] for c in columns})
        models_same += agree_all
    return {
        "identical_verdict_share": same / compared if compared else 0.0,
        "verdicts_compared": compared,
        "models_with_all_verdicts_identical": models_same,
        "verdicts_differing": differing,
    }


def evidently_baseline(models: int, count: int, rows: dict, now: datetime) -> dict:
    """Evidently's Report on `count` models (all by default), one process per CPU; parity."""
    import _evidently_baseline
    from _cpu import Contention

    names = [model_name(i) for i in sample_models(models, count)]
    processes = os.cpu_count() or 1
    with Contention() as contention:
        found = _evidently_baseline.run(names, VERSION, now, processes)
    found["contention"] = contention.figures
    theirs = found.pop("verdicts")
    return (
        found
        | parity(rows, theirs)
        | {
            "sample_shifted_models": sum(is_shifted(int(n.split("-")[1])) for n in names),
        }
    )


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


def baseline_text(evid: dict, models: int) -> str:
    """What the baseline is, in words, for the JSON."""
    measured = evid["models_measured"]
    how = (
        f"measured on all {models} models"
        if measured == models
        else f"measured on {measured} of {models} models (a quarter shifted) and extrapolated"
        f" linearly to {models}: wall x {models}/{measured}"
    )
    return (
        "Evidently's own DataDriftPreset Report with its tests (drift.evidently_verdicts) per"
        f" model, {how}, in {evid['processes']} spawned worker processes (one per CPU) sharing"
        " a queue, after the audit, in the same run. Each worker reads the model's stored"
        " reference and current window as the audit does, then runs the Report; its wall time"
        " runs from the start signal to the last result (imports and one warm-up Report per"
        " worker are before it). CPU per model is the worker's process CPU around the Report"
        " alone (the read is in read_cpu_s_per_model)."
    )


def summarise(models: int, rows: dict, state, audit_s: float, extra: dict) -> dict:
    """The JSON report."""
    counts = collections.Counter(r.verdict for r in rows.values())
    drift_status = collections.Counter(drift_figures(r)["status"] for r in rows.values())
    drifting = [name for name, r in rows.items() if drift_figures(r)["status"] == "breached"]
    expected = {model_name(i) for i in range(models) if is_shifted(i)}
    evid = extra["evidently"]
    cpu = extra["profile"]["audit_cpu_seconds"]
    profile = {
        k: v for k, v in extra["profile"].items() if k not in ("audit_cpu_seconds", "contention")
    }
    measured = evid["models_measured"]
    evidently_wall = evid["wall_s"] * models / measured
    ours_cpu = cpu["total"] / models
    server = cpu["living_descendants"].get("prefect server (and its children)", 0.0)
    meets = audit_s <= TARGET_AUDIT_S if models == 1000 else None
    return {
        "models": models,
        "audit_wall_s": round(audit_s, 2),
        "target_wall_s": TARGET_AUDIT_S,
        "meets_target": meets,
        "target": "1,000 models in 120 s or less on 2 cores (meets_target is null for other N)",
        "identical_verdict_share": evid["identical_verdict_share"],
        "evidently_baseline": baseline_text(evid, models),
        "evidently_wall_s": round(evidently_wall, 2),
        "evidently_wall_extrapolated": measured != models,
        "wall_ratio": round(evidently_wall / audit_s, 2),
        "audit_cpu_s_per_model": round(ours_cpu, 4),
        "evidently_report_cpu_s_per_model": round(evid["report_cpu_s_per_model"], 4),
        "cpu_ratio": round(evid["report_cpu_s_per_model"] / ours_cpu, 2),
        "cpu_ratio_means": "Evidently's Report CPU s per model / our audit's CPU s per model,"
        " counting this process (all threads), the spawned report worker, the resource tracker"
        " and the Prefect server started for the run",
        "audit_cpu_seconds": cpu,
        "contention": {
            "audit": extra["profile"]["contention"],
            "evidently": evid["contention"],
            "means": "cpu_waiting_share: share of the span's wall time in which some runnable"
            " task waited for a CPU (/proc/pressure/cpu); the machine is shared, so a wall ratio"
            " compares like with like only when the two shares are close",
        },
        "audit_cpu_s_per_model_without_prefect_server": round((cpu["total"] - server) / models, 4),
        "evidently": {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in evid.items()
            if k not in ("identical_verdict_share", "contention")
        },
        "versions_checked": len(rows),
        "drifting_models": len(drifting),
        "drifting_as_built": sorted(drifting) == sorted(expected),
        "drift_status": dict(drift_status),
        "verdicts": {v: counts.get(v, 0) for v in ("retain", "re-validate", "retire")},
        "reports_written": sum(1 for r in rows.values() if r.report_digest),
        "flow_state": {"name": state.name, "message": state.message},
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
            "report_worker": "one spawned process while the fan-out runs (flows/report_renderer)",
            "server": "prefect server start, 127.0.0.1, SQLite (deployments/local_stack.py)",
            "database": "SQLite (governance store)",
            "cpus": os.cpu_count(),
            "load_average_at_start": extra["load_at_start"],
            "load_average_before_audit": extra["load_before_audit"],
            "load_average_after_audit": extra["load_after_audit"],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "total_seconds": round(time.perf_counter() - extra["begin"], 1),
        },
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
        "--evidently-models",
        type=int,
        default=None,
        help="models Evidently's Report runs on (default: all; fewer are extrapolated)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample every thread's stack during the audit"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start a server, set up N monitored models, run the audit and Evidently, stop, print."""
    args = parse_args(argv)
    if args.models < 1 or (args.evidently_models is not None and args.evidently_models < 1):
        raise SystemExit("--models and --evidently-models must be at least 1")
    begin, load_at_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
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

            load_before_audit = [round(x, 2) for x in os.getloadavg()]
            audit_s, state, profile = run_audit(args.profile, local.processes[0].pid)
            load_after_audit = [round(x, 2) for x in os.getloadavg()]
            rows = audit_rows(str(state.state_details.flow_run_id))
            count = args.evidently_models or args.models
            evid = evidently_baseline(args.models, count, rows, datetime.now(UTC))
            if args.profile:  # after the figures: what the audit costs without Prefect, and back
                from _audit_profile import prefect_floor, services_only

                names = [model_name(i) for i in range(args.models)]
                profile["services_only_one_thread"] = services_only()
                profile["prefect_noop_fan_out"] = prefect_floor(
                    names, VERSION, local.processes[0].pid
                )
            extra = {
                "evidently": evid,
                "setup_s": setup_s,
                "setup_phases": phases,
                "task_workers": load_settings().task_workers,
                "begin": begin,
                "load_at_start": load_at_start,
                "load_before_audit": load_before_audit,
                "load_after_audit": load_after_audit,
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
