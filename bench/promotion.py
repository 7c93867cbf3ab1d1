"""Promotion benchmark: promote-model on a local Prefect server against the bare service calls.

Prints one JSON object: the wall time of a promotion through Prefect (the human wait taken
out), the same service calls made without Prefect in the same run, and their difference and
ratio. See bench/README.md for what each figure means.

    .venv/bin/python bench/promotion.py                   # 7 promotions each way, 10,000 rows
    .venv/bin/python bench/promotion.py --repetitions 9 --poll 0.2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

MODEL = "churn"
REQUESTER = "alice"
# The example roster: medium risk in production needs an ml_lead and a risk_officer.
APPROVERS = {"ml_lead": "carol", "risk_officer": "dave"}
TARGET_OVERHEAD_S = 1.5
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(samples: list[float]) -> dict[str, float]:
    """Median, p95, min and max of a list of seconds."""
    return {
        "median_s": statistics.median(samples),
        "p95_s": percentile(samples, 0.95),
        "min_s": min(samples),
        "max_s": max(samples),
    }


# --- setup (never timed) -------------------------------------------------------------------


def training_data(rows: int, dataset: Path):
    """Breast-cancer features for training, and `rows` resampled rows with a group column."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(7)
    picked = rng.integers(0, len(x), size=rows)
    frame = x.iloc[picked].reset_index(drop=True).assign(label=y.iloc[picked].to_numpy())
    frame["site"] = rng.choice(["north", "south"], size=rows)
    frame.to_csv(dataset, index=False)
    return x, y


def good_models(x, y, count: int) -> list[bytes]:
    """`count` distinct skops StandardScaler + LogisticRegression pipelines."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        sio.dumps(make_pipeline(StandardScaler(), LogisticRegression(C=1.0 - 0.02 * i)).fit(x, y))
        for i in range(count)
    ]


def governance_env(root: Path, poll: float) -> dict[str, str]:
    """GOVERNANCE_* variables for a fresh SQLite database, artifacts and a policy copy."""
    from governance.config import EXAMPLE_POLICY

    policy = root / "governance.yaml"
    policy.write_text(EXAMPLE_POLICY.read_text())
    return {
        "GOVERNANCE_HOME": str(root),
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{root / 'governance.db'}",
        "GOVERNANCE_ARTIFACT_ROOT": str(root / "artifacts"),
        "GOVERNANCE_POLICY_FILE": str(policy),
        "GOVERNANCE_PAUSE_POLL_SECONDS": str(poll),
    }


def populate(root: Path, rows: int, candidates: int) -> list[str]:
    """Migrate the database, register 1.0.0 in production, the candidates in staging, the data."""
    from governance.bootstrap import open_governance
    from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
    from governance.reports.model_card import load_card_yaml
    from governance.services import evaluation, registry
    from governance.services.registry import VersionSpec
    from governance.store.schema import upgrade

    bare = open_governance(check_schema=False)
    upgrade(bare.engine)
    bare.close()
    dataset = root / "holdout.csv"
    blobs = good_models(*training_data(rows, dataset), candidates + 1)
    card = load_card_yaml((REPO / "examples" / "cards" / "churn-classifier.yaml").read_text())
    model = RegisteredModel(
        name=MODEL, owner=REQUESTER, team="t", risk_level=RiskLevel.medium, kind=ModelKind.sklearn
    )
    versions = ["1.0.0", *(f"1.1.{i}" for i in range(candidates))]
    gov = open_governance()
    try:
        for version, blob in zip(versions, blobs, strict=True):
            spec = VersionSpec(name=MODEL, version=version, created_by=REQUESTER)
            registry.register_version(gov, spec, card, artifact=blob, now=START, new_model=model)
            registry.transition(gov, MODEL, version, LifecycleStage.staging, actor="bob", now=START)
        registry.transition(gov, MODEL, "1.0.0", LifecycleStage.production, actor="bob", now=START)
        evaluation.register_dataset(
            gov,
            name="holdout",
            path=dataset,
            target="label",
            group_columns=["site"],
            actor=REQUESTER,
            now=START,
        )
    finally:
        gov.close()
    return versions[1:]


def prefect_settings(stack: ExitStack, api_url: str) -> None:
    """Point this process at the server, heartbeat off, visible to the flow's thread too."""
    import prefect.context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    os.environ["PREFECT_API_URL"] = api_url
    stack.enter_context(
        temporary_settings({PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    )
    # Flows run in threads, which see only Prefect's global context, not ours.
    saved = prefect.context.GLOBAL_SETTINGS_CONTEXT
    prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.SettingsContext.get()
    stack.callback(setattr, prefect.context, "GLOBAL_SETTINGS_CONTEXT", saved)


# --- the Prefect path ----------------------------------------------------------------------


def flow_params(version: str) -> dict:
    """promote-model's parameters for one candidate."""
    return {
        "model": MODEL,
        "version": version,
        "dataset": "holdout",
        "requested_by": REQUESTER,
        "target": "production",
    }


def role_of(key: str) -> str:
    """The role a pause key asks for (approval-<request id>-<role>-<round>)."""
    from flows.approval import PAUSE_KEY_PREFIX

    tail = key[len(PAUSE_KEY_PREFIX) + 38 :]  # past "<prefix>-", a 36-character uuid and "-"
    return tail.rsplit("-", 1)[0].replace("-", "_")


def next_pause(client, started: float, answered: set[str], done: dict, poll: float):
    """Wait for a paused run with an unanswered pause whose schema exists: (run, input)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "state" not in done:
        for run in client.read_flow_runs(flow_run_filter=paused):
            key = run.state.state_details.pause_key
            if run.created.timestamp() < started - 1 or key in answered:
                continue
            schema = client.filter_flow_run_input(run.id, f"paused-{key}-schema", 1, set())
            if schema:
                return run, schema[0]
        time.sleep(poll)
    raise RuntimeError(f"promote-model never paused (or ended early: {done.get('state')})")


SEGMENTS = ("to_first_pause", "between_pauses", "after_last_resume")


def prefect_promotion(version: str, detect_poll: float) -> dict:
    """One promote-model run, resumed at once by each role; timings in seconds."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from flows.promote_model import promote_model

    done: dict = {}
    thread = threading.Thread(
        target=lambda: done.update(state=promote_model(**flow_params(version), return_state=True)),
        daemon=True,
    )
    started = time.time()
    thread.start()
    marks, answered, run_id = [started], set(), None
    with get_client(sync_client=True) as client:
        for _ in APPROVERS:
            run, schema = next_pause(client, started, answered, done, detect_poll)
            key = run.state.state_details.pause_key
            role = role_of(key)
            marks += [schema.created.timestamp(), time.time()]
            resume_flow_run(
                run.id, run_input={"approver": APPROVERS[role], "role": role, "decision": "approve"}
            )
            answered.add(key)
            run_id = run.id
    thread.join(120)
    marks.append(time.time())
    state = done.get("state")
    if state is None or state.name != "Promoted":
        raise RuntimeError(f"{version}: promote-model ended {state!r}")
    return timings(marks) | {"run_id": run_id}


def timings(marks: list[float]) -> dict:
    """Start, (pause exists, resume sent) per pause, end -> busy segments and the human wait."""
    busy = [marks[i + 1] - marks[i] for i in range(0, len(marks), 2)]
    human = [marks[i + 1] - marks[i] for i in range(1, len(marks) - 1, 2)]
    return {
        "seconds": sum(busy),
        "wall_s": marks[-1] - marks[0],
        "human_wait_s": sum(human),
        **dict(zip(SEGMENTS, busy, strict=True)),
    }


# --- the baseline: the same service calls, no Prefect --------------------------------------


def service_promotion(version: str) -> dict:
    """promote-model's service calls in its order, without Prefect; timings in seconds."""
    from governance.bootstrap import open_governance
    from governance.domain.models import LifecycleStage
    from governance.services import approvals, evaluation, promotion

    marks = [time.time()]
    gov = open_governance()
    try:
        target = LifecycleStage.production
        promotion.check_preconditions(gov, model=MODEL, version=version, target=target, now=_now())
        run = evaluation.evaluate(
            gov, model=MODEL, version=version, dataset="holdout", actor=REQUESTER, now=_now()
        )
        marks.append(time.time())
        if not run.decision.passed:
            raise RuntimeError(f"{version}: gate failed: {run.decision.summary()}")
        request = approvals.open_approval(
            gov,
            model=MODEL,
            version=version,
            target=target,
            requested_by=REQUESTER,
            evaluation_run_id=run.id,
            now=_now(),
        )
        for role, approver in APPROVERS.items():
            # Where the flow pauses, the baseline's "human" answers in zero time.
            marks += [time.time(), time.time()]
            request = approvals.decide(
                gov,
                request_id=request.id,
                approver=approver,
                role=role,
                decision="approve",
                now=_now(),
            )
        gov.reload_policy()
        promotion.complete_promotion(gov, request_id=request.id, actor=REQUESTER, now=_now())
    finally:
        gov.close()
    marks.append(time.time())
    evaluated = marks.pop(1)
    return timings(marks) | {"through_evaluation_s": evaluated - marks[0]}


def _now() -> datetime:
    return datetime.now(UTC)


# --- where the Prefect time goes (read back from the server, after the runs) ----------------


def breakdown(run_ids: list) -> dict:
    """Median task-run durations and paused time per promote-model run, from the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    per_task: dict[str, list[float]] = {}
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            ids = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            for task_run in client.read_task_runs(flow_run_filter=ids):
                if task_run.start_time and task_run.end_time:
                    seconds = (task_run.end_time - task_run.start_time).total_seconds()
                    per_task.setdefault(task_run.name.rsplit("-", 1)[0], []).append(seconds)
    return {name: statistics.median(values) for name, values in sorted(per_task.items())}


# --- main ----------------------------------------------------------------------------------


def measure(candidates: list[str], repetitions: int, warmup: int, detect_poll: float) -> dict:
    """Alternate Prefect and baseline promotions; the first `warmup` of each are not counted."""
    prefect_runs, service_runs = [], []
    versions = iter(candidates)
    for index in range(warmup + repetitions):
        ours = prefect_promotion(next(versions), detect_poll)
        bare = service_promotion(next(versions))
        if index >= warmup:
            prefect_runs.append(ours)
            service_runs.append(bare)
    return {"prefect": prefect_runs, "baseline": service_runs}


def medians(runs: list[dict], keys) -> dict[str, float]:
    """The median of each key over the runs."""
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def report(runs: dict, args: argparse.Namespace, setup_s: float) -> dict:
    """The JSON report: figures, the ratio to the baseline, and whether the target is met."""
    ours, bare = runs["prefect"], runs["baseline"]
    ours_s, bare_s = spread([r["seconds"] for r in ours]), spread([r["seconds"] for r in bare])
    ours_seg, bare_seg = medians(ours, SEGMENTS), medians(bare, SEGMENTS)
    overhead = ours_s["median_s"] - bare_s["median_s"]
    return {
        "prefect": {
            **ours_s,
            "wall_median_s": statistics.median(r["wall_s"] for r in ours),
            "human_wait_median_s": statistics.median(r["human_wait_s"] for r in ours),
            "human_wait_max_s": max(r["human_wait_s"] for r in ours),
            "segments_median_s": ours_seg,
            "task_run_median_s": breakdown([r["run_id"] for r in ours]),
        },
        "baseline": {
            **bare_s,
            "segments_median_s": bare_seg,
            "through_evaluation_median_s": statistics.median(
                r["through_evaluation_s"] for r in bare
            ),
        },
        "overhead_s": overhead,
        "overhead_by_segment_s": {key: ours_seg[key] - bare_seg[key] for key in SEGMENTS},
        "ratio": ours_s["median_s"] / bare_s["median_s"],
        "target_overhead_s": TARGET_OVERHEAD_S,
        "target_met": overhead < TARGET_OVERHEAD_S,
        "config": {
            "rows": args.rows,
            "repetitions": args.repetitions,
            "warmup": args.warmup,
            "pause_poll_seconds": args.poll,
            "resume_detect_poll_seconds": args.detect_poll,
            "heartbeat": None,
            "server": "prefect server start, 127.0.0.1, SQLite",
            "setup_seconds": setup_s,
            "cpus": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7, help="timed promotions each way")
    parser.add_argument("--warmup", type=int, default=1, help="untimed promotions each way first")
    parser.add_argument("--rows", type=int, default=10_000, help="evaluation dataset rows")
    parser.add_argument("--poll", type=float, default=0.5, help="pause poll (shipped policy: 0.5)")
    parser.add_argument(
        "--detect-poll", type=float, default=0.1, help="how often the bench looks for a pause"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start a server, set up a registry, time both paths, stop the server, print the JSON."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        begin = time.perf_counter()
        os.environ.update(governance_env(work, args.poll))
        os.environ["PREFECT_HOME"] = str(work / "prefect")
        from deployments.local_stack import LocalStack, free_port

        stack_ = LocalStack(home=work, port=free_port())
        stack.callback(stack_.stop)
        stack_.start_server()
        prefect_settings(stack, stack_.api_url)
        candidates = populate(work, args.rows, 2 * (args.warmup + args.repetitions))
        setup_s = time.perf_counter() - begin
        runs = measure(candidates, args.repetitions, args.warmup, args.detect_poll)
        result = report(runs, args, setup_s)
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # send buffered run logs while the server is still up
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
