"""Promotion benchmark: served, suspending promote-model against the bare service calls.

Prints one JSON object: the orchestration overhead per promotion (Prefect time with the
runner's poll waits and the human waits taken out, minus the same service calls made
without Prefect in the same run), the resume-to-next-suspend latency at the shipped runner
poll, and the medians and ratio behind them. See bench/README.md for what each figure means.

    .venv/bin/python bench/promotion.py                   # 6 promotions each way, 10,000 rows
    .venv/bin/python bench/promotion.py --repetitions 5 --rows 5000
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
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

MODEL = "churn"
REQUESTER = "alice"
TARGET = "production"
# Medium risk in production needs an ml_lead and a risk_officer: two suspends per promotion.
# Several people per role, because a person's one-time code is accepted once per 30 s step.
APPROVER_POOL = {
    "ml_lead": ["carol", "gina", "lena", "mike", "nora"],
    "risk_officer": ["dave", "hank", "omar", "paula", "quinn"],
}
TARGET_OVERHEAD_S = 1.5
DETECT_POLL_S = 0.1  # how often the bench looks for a suspend or the end (the tests' rate)
SETTLE_S = 1.0  # let the last flow process exit before the next timed promotion
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
METHOD = (
    "orchestration_overhead_s = median Prefect busy time - median baseline time. Prefect busy "
    "time = submit_promotion call to the final state's timestamp, minus each human wait (the "
    "run suspended with its input schema saved -> the bench's resume call) and minus each "
    "runner poll wait (a Scheduled state -> the runner's Pending state, read from the flow "
    "run's state history: the start and every resume). Process start (Pending -> Running), "
    "re-execution from the top, the resume call and the submit's own checks stay in: they "
    "are orchestration. All times are server state timestamps except the submit and resume "
    "calls (client clock, same machine)."
)


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


def _now() -> datetime:
    return datetime.now(UTC)


# --- setup (never timed) -------------------------------------------------------------------


class Authenticators:
    """The approvers' authenticator apps: a valid, unused code from someone, never waiting."""

    # A code is accepted once per person and never an older step (±1 step allowed), so a
    # person may answer with the current or the next step; the pool supplies someone who can.

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.last: dict[str, int] = {}

    def next_code(self, role: str) -> tuple[str, str]:
        """(person, code) for the first person of the role with an unused current or next step."""
        import pyotp

        step = int(time.time()) // 30
        for person in APPROVER_POOL[role]:
            wanted = max(step, self.last.get(person, -1) + 1)
            if wanted <= step + 1:
                self.last[person] = wanted
                return person, pyotp.TOTP(self.secrets[person]).at(wanted * 30)
        raise RuntimeError(f"every {role} has used this step and the next; grow APPROVER_POOL")


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


def governance_env(root: Path) -> dict[str, str]:
    """GOVERNANCE_* variables for a fresh home: database, artifacts, key, policy with a pool."""
    import yaml

    from governance.config import EXAMPLE_POLICY

    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    for role, people in APPROVER_POOL.items():
        policy["roster"].update({person: [role] for person in people})
    path = root / "governance.yaml"
    path.write_text(yaml.safe_dump(policy))
    return {
        "GOVERNANCE_HOME": str(root),
        "GOVERNANCE_DATABASE_URL": f"sqlite:///{root / 'governance.db'}",
        "GOVERNANCE_ARTIFACT_ROOT": str(root / "artifacts"),
        "GOVERNANCE_POLICY_FILE": str(path),
        "GOVERNANCE_SECRET_KEY_FILE": str(root / "secret.key"),
        "GOVERNANCE_SESSION_FILE": str(root / "session.json"),
    }


def populate(root: Path, rows: int, candidates: int) -> tuple[list[str], Authenticators]:
    """Migrate, enrol the approvers, register 1.0.0 in production and the candidates, the data."""
    from governance.bootstrap import open_governance
    from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
    from governance.keyring import create_secret_key
    from governance.reports.card_yaml import load_card_yaml
    from governance.services.registry import datasets
    from governance.services.registry import versions as registry_versions
    from governance.services.registry.versions import VersionSpec
    from governance.services.trust import identity
    from governance.store.schema import upgrade

    create_secret_key(root / "secret.key")
    bare = open_governance(check_schema=False)
    upgrade(bare.engine)
    bare.close()
    dataset = root / "holdout.csv"
    blobs = good_models(*training_data(rows, dataset), candidates + 1)
    card = load_card_yaml((REPO / "examples" / "cards" / "churn-classifier.yaml").read_text())
    # The example card says high risk; the card must agree with the model's medium.
    card = card.model_copy(update={"risk_level": RiskLevel.medium})
    model = RegisteredModel(
        name=MODEL, owner=REQUESTER, team="t", risk_level=RiskLevel.medium, kind=ModelKind.sklearn
    )
    versions = ["1.0.0", *(f"1.1.{i}" for i in range(candidates))]
    gov = open_governance()
    try:
        secrets = {
            person: identity.enroll(gov, person, actor="bench-setup", now=_now()).secret
            for people in APPROVER_POOL.values()
            for person in people
        }
        for version, blob in zip(versions, blobs, strict=True):
            spec = VersionSpec(name=MODEL, version=version, created_by=REQUESTER)
            registry_versions.register_version(
                gov, spec, card, artifact=blob, now=START, new_model=model
            )
            seed(gov, version, LifecycleStage.staging)
        seed(gov, "1.0.0", LifecycleStage.production)
        datasets.register_dataset(
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
    return versions[1:], Authenticators(secrets)


def seed(gov, version: str, stage) -> None:
    """Put a version in a stage with the internal move promote-model itself makes."""
    from governance.services.rollout.production import _transition_in as transition_in

    # The public services refuse staging and production outside promote-model (one door).
    with gov.store.write() as tx:
        transition_in(tx, MODEL, version, stage, actor="bench-setup", now=_now())


def only_promote_model_scheduled() -> list[str]:
    """Pause every other served deployment, so no cron run lands inside a measurement."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    from deployments.serve import DEPLOYMENTS

    paused = []
    with get_client(sync_client=True) as client:
        # serve() registers its deployments one by one; promote-model alone may be up yet.
        deadline = time.monotonic() + 60
        while len(deployments := client.read_deployments()) < len(DEPLOYMENTS):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {[d.name for d in deployments]} were registered")
            time.sleep(0.5)
        for deployment in deployments:
            if deployment.name == "promote-model":
                continue
            client.pause_deployment(deployment.id)
            ids = FlowRunFilterDeploymentId(any_=[deployment.id])
            for run in client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=ids)):
                if run.state and run.state.is_scheduled():
                    client.delete_flow_run(run.id)
            paused.append(deployment.name)
    return paused


# --- the Prefect path ----------------------------------------------------------------------


def role_of(key: str) -> str:
    """The role a pause key asks for (approval-<request id>-<role>-<round>)."""
    from flows.approval import PAUSE_KEY_PREFIX

    tail = key[len(PAUSE_KEY_PREFIX) + 38 :]  # past "<prefix>-", a 36-character uuid and "-"
    return tail.rsplit("-", 1)[0].replace("-", "_")


def next_event(client, run_id, answered: set[str]):
    """Wait for a new suspend with its schema saved, ("suspended", key, saved_at) or the end."""
    from prefect.input.run_input import keyset_from_paused_state

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = client.read_flow_run(run_id).state
        if state and state.is_final():
            return "final", state, state.timestamp.timestamp()
        key = state.state_details.pause_key if state and state.is_paused() else None
        if key and key not in answered:
            schema_key = keyset_from_paused_state(state)["schema"]
            # The flow saves the schema just after suspending; until then nobody can answer.
            saved = client.filter_flow_run_input(run_id, schema_key, 1, set())
            if saved:
                return "suspended", key, saved[0].created.timestamp()
        time.sleep(DETECT_POLL_S)
    raise RuntimeError(f"run {run_id} neither suspended nor ended within 180 s")


def prefect_promotion(gov, version: str, codes: Authenticators) -> dict:
    """One served promote-model run, each suspend answered at once; timings in seconds."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from flows.approval import ApprovalInput
    from flows.promotion_runs import submit_promotion
    from governance.domain.identity import VerifiedActor

    params = {"model": MODEL, "version": version, "dataset": "holdout", "target": TARGET}
    submitted = time.time()
    run = submit_promotion(gov, VerifiedActor(name=REQUESTER, method="totp"), params, now=_now())
    saved_at, resumed_at, answered = [], [], set()
    with get_client(sync_client=True) as client:
        while True:
            kind, what, at = next_event(client, run.id, answered)
            if kind == "final":
                final, ended = what, at
                break
            if len(answered) == len(APPROVER_POOL):
                raise RuntimeError(f"{version}: suspended again: {refusal(gov, run.id)}")
            role = role_of(what)
            person, code = codes.next_code(role)
            answer = ApprovalInput(approver=person, role=role, decision="approve", code=code)
            saved_at.append(at)
            resumed_at.append(time.time())
            resume_flow_run(run.id, run_input=answer.model_dump())
            answered.add(what)
        states = client.read_flow_run_states(run.id)
    if final.name != "Promoted":
        raise RuntimeError(f"{version}: promote-model ended {final.name}: {final.message}")
    return {"run_id": run.id, **phases(submitted, states, saved_at, resumed_at, ended)}


def refusal(gov, run_id) -> str:
    """Why the flow refused an answer, as it recorded it."""
    from governance.services.promotion import approval_queue

    stored = approval_queue.request_for_run(gov, str(run_id))
    return approval_queue.last_refusal(gov, stored.request.id) if stored else "no request"


def phases(submitted: float, states, saved_at, resumed_at, ended: float) -> dict:
    """Split submit -> final state into its phases from the run's state history."""
    states = sorted(states, key=lambda s: s.timestamp)
    stamps = [s.timestamp.timestamp() for s in states]
    if len([s for s in states if s.is_paused()]) != len(resumed_at):
        raise RuntimeError(f"{len(resumed_at)} resumes, states {[s.name for s in states]}")
    spent = {"submit": stamps[0] - submitted, "poll_wait": [], "process_start": 0.0}
    spent |= {"execution": 0.0, "human_wait": 0.0, "resume_call": 0.0}
    pause = 0
    for state, begin, end in zip(states, stamps, stamps[1:], strict=False):
        if state.is_scheduled():  # waiting for the runner's next poll to claim it
            spent["poll_wait"].append(end - begin)
        elif state.is_pending():  # the runner starts a flow process
            spent["process_start"] += end - begin
        elif state.is_running():
            spent["execution"] += end - begin
        elif state.is_paused():  # saving the schema, the person, the resume round trip
            spent["execution"] += saved_at[pause] - begin
            spent["human_wait"] += resumed_at[pause] - saved_at[pause]
            spent["resume_call"] += end - resumed_at[pause]
            pause += 1
    wall = stamps[-1] - submitted
    busy = wall - spent["human_wait"] - sum(spent["poll_wait"])
    return {
        "seconds": busy,
        "wall_s": wall,
        **spent,
        "resume_to_next_suspend": [saved_at[i + 1] - resumed_at[i] for i in range(pause - 1)],
        "last_resume_to_end": ended - resumed_at[-1],
    }


# --- the baseline: the same service calls, no Prefect --------------------------------------


def service_promotion(version: str, codes: Authenticators) -> dict:
    """promote-model's service calls in its order, without Prefect; timings in seconds."""
    from governance.bootstrap import open_governance
    from governance.domain.identity import VerifiedActor
    from governance.domain.models import LifecycleStage
    from governance.services.promotion import (
        approval_requests,
        completion,
        decisions,
        evaluation,
        preconditions,
        request_tokens,
    )
    from governance.services.promotion import requester as promotion_requester

    # Codes are picked before the clock starts; they stay valid for the next 30 s or more.
    answers = [(role, *codes.next_code(role)) for role in APPROVER_POOL]
    run_id = str(uuid.uuid4())  # stands in for the flow run the token is bound to
    started = time.perf_counter()
    gov = open_governance()
    try:
        target = LifecycleStage.production
        actor = VerifiedActor(name=REQUESTER, method="totp")
        token = request_tokens.mint_request_token(
            gov, actor, model=MODEL, version=version, target=TARGET, now=_now()
        )
        requester = promotion_requester.verify_requester(
            gov,
            token=token,
            requested_by=REQUESTER,
            model=MODEL,
            version=version,
            target=TARGET,
            flow_run_id=run_id,
            now=_now(),
        )
        preconditions.check_preconditions(
            gov, model=MODEL, version=version, target=target, now=_now()
        )
        run = evaluation.evaluate(
            gov, model=MODEL, version=version, dataset="holdout", actor=REQUESTER, now=_now()
        )
        evaluated = time.perf_counter()
        if not run.decision.passed:
            raise RuntimeError(f"{version}: gate failed: {run.decision.summary()}")
        request = approval_requests.open_approval(
            gov,
            model=MODEL,
            version=version,
            target=target,
            requester=requester,
            evaluation_run_id=run.id,
            now=_now(),
            flow_run_id=run_id,
        )
        for role, person, code in answers:
            request = decisions.decide(
                gov,
                request_id=request.id,
                approver=person,
                role=role,
                decision="approve",
                code=code,
                now=_now(),
            )
        gov.reload_policy()
        completion.complete_promotion(gov, request_id=request.id, actor=REQUESTER, now=_now())
    finally:
        gov.close()
    ended = time.perf_counter()
    return {"seconds": ended - started, "through_evaluation_s": evaluated - started}


# --- where the Prefect time goes (read back from the server, after the runs) ----------------


def task_breakdown(run_ids: list) -> dict:
    """Median task-run durations per promote-model run, from the server."""
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


def measure(candidates: list[str], codes: Authenticators, repetitions: int, warmup: int) -> dict:
    """Alternate Prefect and baseline promotions; the first `warmup` of each are not counted."""
    from governance.bootstrap import open_governance

    prefect_runs, service_runs = [], []
    versions = iter(candidates)
    gov = open_governance()  # the CLI's instance: submits runs, reads refusals
    try:
        for index in range(warmup + repetitions):
            time.sleep(SETTLE_S)
            ours = prefect_promotion(gov, next(versions), codes)
            time.sleep(SETTLE_S)
            bare = service_promotion(next(versions), codes)
            if index >= warmup:
                prefect_runs.append(ours)
                service_runs.append(bare)
    finally:
        gov.close()
    return {"prefect": prefect_runs, "baseline": service_runs}


def median_of(runs: list[dict], key: str) -> float:
    """The median over the runs of one figure (a list is summed per run first)."""
    values = [run[key] for run in runs]
    return statistics.median(sum(v) if isinstance(v, list) else v for v in values)


def report(runs: dict, args: argparse.Namespace, extra: dict) -> dict:
    """The JSON report: overhead, resume latency, both medians, the ratio, the breakdown."""
    ours, bare = runs["prefect"], runs["baseline"]
    ours_s, bare_s = spread([r["seconds"] for r in ours]), spread([r["seconds"] for r in bare])
    overhead = ours_s["median_s"] - bare_s["median_s"]
    resumes = [s for r in ours for s in r["resume_to_next_suspend"]]
    polls = [p for r in ours for p in r["poll_wait"]]
    phase_keys = ("submit", "process_start", "execution", "resume_call", "poll_wait", "human_wait")
    return {
        "orchestration_overhead_s": round(overhead, 3),
        "target_s": TARGET_OVERHEAD_S,
        "met": overhead < TARGET_OVERHEAD_S,
        "method": METHOD,
        "resume_to_next_suspend_s": {
            "median_s": statistics.median(resumes),
            "p95_s": percentile(resumes, 0.95),
            "max_s": max(resumes),
            "n": len(resumes),
            "runner_poll_frequency_s": float(extra["runner_poll_frequency"]),
        },
        "baseline_median_s": bare_s["median_s"],
        "prefect_median_s": ours_s["median_s"],
        "ratio": ours_s["median_s"] / bare_s["median_s"],
        "n": len(ours),
        "rows": args.rows,
        "prefect": {
            **ours_s,
            "wall_median_s": median_of(ours, "wall_s"),
            "phases_median_s": {key: median_of(ours, key) for key in phase_keys},
            "poll_wait_per_pickup_s": spread(polls) | {"n": len(polls)},
            "last_resume_to_end_median_s": median_of(ours, "last_resume_to_end"),
            "task_run_median_s": task_breakdown([r["run_id"] for r in ours]),
        },
        "baseline": {
            **bare_s,
            "through_evaluation_median_s": median_of(bare, "through_evaluation_s"),
        },
        "config": {
            "repetitions": args.repetitions,
            "warmup": args.warmup,
            "approvals_per_promotion": len(APPROVER_POOL),
            "server": "prefect server start, 127.0.0.1, SQLite; deployments/serve.py runner",
            "paused_other_deployments": extra["paused"],
            "setup_seconds": extra["setup_s"],
            "total_seconds": time.perf_counter() - extra["begin"],
            "cpus": os.cpu_count(),
            # Other work on the machine shares the CPUs with the flow processes: read with this.
            "load_average_1m_at_start": extra["load_at_start"],
            "load_average_1m_at_end": os.getloadavg()[0],
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=6, help="timed promotions each way")
    parser.add_argument("--warmup", type=int, default=1, help="untimed promotions each way first")
    parser.add_argument("--rows", type=int, default=10_000, help="evaluation dataset rows")
    return parser.parse_args(argv)


def show_logs(work: Path) -> None:
    """On failure, the tail of the server and serve logs (the directory is about to go)."""
    for name in ("serve.log", "server.log"):
        path = work / name
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-40:]
            print(f"--- {name} ---", *tail, sep="\n", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Start a server and the runner, set up a registry, time both paths, stop, print the JSON."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        begin, load_at_start = time.perf_counter(), os.getloadavg()[0]
        from deployments.local_stack import LocalStack, free_port

        local = LocalStack(home=work, port=free_port())
        # Set before Prefect is imported here: its settings are read from the environment.
        os.environ.update(governance_env(work))
        os.environ.update(
            {key: local.env()[key] for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_UI_URL")}
        )
        stack.callback(local.stop)  # only the server and runner this script started, by PID
        try:
            local.start_server()
            candidates, codes = populate(work, args.rows, 2 * (args.warmup + args.repetitions))
            local.start_serve()  # reads GOVERNANCE_* from this environment once
            paused = only_promote_model_scheduled()
            setup_s = time.perf_counter() - begin
            runs = measure(candidates, codes, args.repetitions, args.warmup)
            extra = {
                "runner_poll_frequency": local.env()["PREFECT_RUNNER_POLL_FREQUENCY"],
                "paused": paused,
                "setup_s": setup_s,
                "begin": begin,
                "load_at_start": load_at_start,
            }
            result = report(runs, args, extra)
        except BaseException:
            show_logs(work)
            raise
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
