"""Governance server benchmark: thin-client CLI, HTTP resolve, registration upload, load.

Prints one JSON object measured in one run on this machine: the per-command wall time of
the thin client (`GOVERNANCE_SERVER_URL` and a session file, nothing else) against the
direct CLI (database URL, key file, policy); `NAME@production` resolved over HTTP against
MLflow's tracking server answering its alias lookup; registrations per second through the
API with the artifact and card uploaded, against MLflow's REST registration with its
artifact uploaded; and requests per second from 16 concurrent callers on 2 server processes.
MLflow runs from bench/.mlflow-venv (bench/registry.py makes it on first use, before any
clock starts); `mlflow_baseline` says whether it was measured. See bench/README.md.

    .venv/bin/python bench/server.py                   # ours and MLflow 3 (~4 min idle)
    .venv/bin/python bench/server.py --without-mlflow  # no MLflow figures or ratios
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import _mlflow_server  # noqa: E402  (bench/ is on sys.path: this file's directory)
import _server_setup as setup  # noqa: E402
import httpx  # noqa: E402
import registry  # noqa: E402
from _http_bench import load, percentile, sequential_ms  # noqa: E402

TARGETS = {
    "cli_p50_ms": 300.0,
    "resolve_http_p95_ms": 2.0,
    "resolve_vs_mlflow": 5.0,
    "registration_vs_mlflow": 1.0,
    "load_errors": 0,
}
BASELINES = {
    "cli_direct": "the same `governance` console script and command without a server: "
    "GOVERNANCE_DATABASE_URL, GOVERNANCE_SECRET_KEY_FILE, GOVERNANCE_POLICY_FILE and "
    "GOVERNANCE_ARTIFACT_ROOT set (the CLI before the server), same database, same run, "
    "alternating with the thin client",
    "mlflow": "MLflow 3's tracking server (`mlflow server`, its own venv, SQLite backend, "
    "artifact proxy on, the same number of uvicorn workers), driven over REST by the same "
    "httpx code in the same run, each phase right after ours",
}


def cli_latency(env: setup.Envs, runs: int) -> dict:
    """Wall time of `models list` and `models show churn@production`, thin and direct."""
    commands = {
        "models_list": ["models", "list"],
        "show": ["models", "show", f"{setup.MODEL}@production"],
    }
    kinds = {"thin": env.thin, "direct": env.direct}
    samples: dict[str, list[float]] = {f"{k}_{c}": [] for k in kinds for c in commands}
    samples["python_startup"] = []
    for i in range(runs + setup.CLI_WARMUP):
        # Alternating, so a change in the machine's load falls on both kinds alike.
        for command, argv in commands.items():
            for kind, environ in kinds.items():
                took = setup.run_cli(argv, environ, env.cwd, expect=setup.PRODUCTION_VERSION)
                if i >= setup.CLI_WARMUP:
                    samples[f"{kind}_{command}"].append(took)
        # The floor under any command: this venv's interpreter starting and exiting.
        took = setup.run_cli(["-c", "pass"], env.thin, env.cwd, program=Path(sys.executable))
        if i >= setup.CLI_WARMUP:
            samples["python_startup"].append(took)
    return {
        key: {"p50_ms": percentile(v, 0.5), "p95_ms": percentile(v, 0.95), "min_ms": min(v)}
        for key, v in samples.items()
    }


def resolve_check(response: httpx.Response) -> None:
    """A resolve must answer 200 with the production version."""
    if response.status_code != 200 or setup.PRODUCTION_VERSION not in response.text:
        raise RuntimeError(f"resolve answered {response.status_code}: {response.text[:300]}")


def register_ours(client: httpx.Client, blobs: list[bytes]) -> dict:
    """Registrations per second through the API, each with its artifact and card uploaded."""
    cards = [setup.card_yaml(setup.timed_version(i)) for i in range(len(blobs))]
    begin = time.perf_counter()
    for i, blob in enumerate(blobs):
        setup.register_over_api(client, setup.timed_version(i), blob, cards[i])
    elapsed = time.perf_counter() - begin
    return {"n": len(blobs), "seconds": elapsed, "per_s": len(blobs) / elapsed}


class Mlflow:
    """The MLflow side, phase by phase; after a failure its later phases are skipped."""

    def __init__(self, python: Path | None, state: str) -> None:
        self.python, self.state, self.bench = python, state, None
        self.figures: dict = {}

    def start(self, work: Path, workers: int, first_blob: bytes, stack: ExitStack) -> None:
        """Start `mlflow server` with one version under the alias (setup)."""
        if self.python is not None:
            self.phase("start", lambda: stack.enter_context(
                _mlflow_server.MlflowBench(self.python, work, workers, first_blob)
            ))  # fmt: skip

    def phase(self, name: str, call):
        """Run one MLflow phase; keep its figures, or note why MLflow stopped being measured."""
        if self.python is None or (name != "start" and self.bench is None):
            return None
        try:
            got = call()
        except (RuntimeError, httpx.HTTPError) as exc:
            self.state, self.bench = f"not measured: {name}: {exc}", None
            return None
        if name == "start":
            self.bench = got
            self.figures["mlflow_version"] = got.version
            self.state = "measured in this run"
        else:
            self.figures[name] = got
        return got


def report(cli: dict, ours: dict, mlflow: Mlflow, config: dict) -> dict:
    """The JSON report: the issue's keys first, then context, ratios and verdicts."""
    theirs = mlflow.figures if mlflow.state == "measured in this run" else {}
    alias, registered = theirs.get("alias_http"), theirs.get("registration")
    out = {
        "cli_models_list_p50_ms": cli["thin_models_list"]["p50_ms"],
        "cli_direct_models_list_p50_ms": cli["direct_models_list"]["p50_ms"],
        "cli_show_p50_ms": cli["thin_show"]["p50_ms"],
        "resolve_http_p50_ms": ours["resolve"]["p50_ms"],
        "resolve_http_p95_ms": ours["resolve"]["p95_ms"],
        "mlflow_alias_http_p95_ms": alias["p95_ms"] if alias else None,
        "registrations_per_s": ours["registration"]["per_s"],
        "mlflow_registrations_per_s": registered["per_s"] if registered else None,
        "load_rps": ours["load"]["rps"],
        "load_errors": ours["load"]["errors"],
    }
    met = {
        "cli_models_list_p50<300ms": out["cli_models_list_p50_ms"] < TARGETS["cli_p50_ms"],
        "cli_show_p50<300ms": out["cli_show_p50_ms"] < TARGETS["cli_p50_ms"],
        "resolve_http_p95<2ms": out["resolve_http_p95_ms"] < TARGETS["resolve_http_p95_ms"],
        "load_errors==0": out["load_errors"] == TARGETS["load_errors"],
    }
    ratios = {
        "cli_direct_over_thin_models_list": cli["direct_models_list"]["p50_ms"]
        / cli["thin_models_list"]["p50_ms"],
        "cli_direct_over_thin_show": cli["direct_show"]["p50_ms"] / cli["thin_show"]["p50_ms"],
    }
    if alias:
        ratios["mlflow_alias_p95_over_resolve_p95"] = alias["p95_ms"] / out["resolve_http_p95_ms"]
        met["resolve_p95_5x_better_than_mlflow"] = (
            ratios["mlflow_alias_p95_over_resolve_p95"] >= TARGETS["resolve_vs_mlflow"]
        )
    if registered:
        ratios["registrations_vs_mlflow"] = out["registrations_per_s"] / registered["per_s"]
        met["registrations>=mlflow"] = (
            ratios["registrations_vs_mlflow"] >= TARGETS["registration_vs_mlflow"]
        )
    if theirs.get("load"):
        ratios["load_rps_vs_mlflow"] = out["load_rps"] / theirs["load"]["rps"]
    return {
        **out,
        "cli_direct_show_p50_ms": cli["direct_show"]["p50_ms"],
        "cli_python_startup_p50_ms": cli["python_startup"]["p50_ms"],
        "mlflow_alias_http_p50_ms": alias["p50_ms"] if alias else None,
        "cli": cli,
        "ours": ours,
        "mlflow_baseline": mlflow.state,
        "mlflow": mlflow.figures,
        "baselines": BASELINES,
        "ratios": ratios,
        "targets_met": met,
        "config": config,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-runs", type=int, default=20, help="timed runs of each command")
    parser.add_argument("--resolves", type=int, default=2000, help="sequential resolves")
    parser.add_argument("--registrations", type=int, default=200, help="timed registrations")
    parser.add_argument("--load-requests", type=int, default=4000, help="requests under load")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent callers")
    parser.add_argument("--workers", type=int, default=2, help="server processes (both servers)")
    parser.add_argument("--without-mlflow", action="store_true", help="skip MLflow")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Set up both servers in one temporary directory, measure, print the JSON report."""
    args = parse_args(argv)
    python, state = None, "not measured: --without-mlflow was given"
    if not args.without_mlflow:
        try:
            python = registry.mlflow_python()  # a first-use install happens here, untimed
        except registry.NoMlflow as exc:
            state = f"not measured: {exc}"
    mlflow = Mlflow(python, state)
    load_start = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="governance-bench-server-") as tmp, ExitStack() as up:
        work = Path(tmp)
        # Setup, never timed: skops artifacts, the host, both servers, a session, production.
        blobs = registry.distinct_artifacts(setup.SEEDED + args.registrations)
        seeded, timed = blobs[: setup.SEEDED], blobs[setup.SEEDED :]
        env = setup.prepare(work, args.workers, seeded, up)
        mlflow.start(work / "mlflow", args.workers, seeded[0], up)
        client = up.enter_context(setup.api_client(env))
        # Each phase: ours, then MLflow's right after, so both see the same machine load.
        cli = cli_latency(env, args.cli_runs)
        resolve_url = f"/v1/models/{setup.MODEL}@production"
        ours = {"resolve": sequential_ms(client, resolve_url, args.resolves, resolve_check)}
        mlflow.phase("alias_http", lambda: mlflow.bench.resolve(args.resolves))
        ours["registration"] = register_ours(client, timed)
        mlflow.phase("registration", lambda: mlflow.bench.register(timed))
        ours["load"] = load(env.url + resolve_url, env.auth, args.load_requests, args.concurrency)
        mlflow.phase("load", lambda: mlflow.bench.load(args.load_requests, args.concurrency))
    config = {
        "cli_runs": args.cli_runs,
        "resolves": args.resolves,
        "registrations": args.registrations,
        "load_requests": args.load_requests,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "database": "SQLite for both servers: ours WAL with synchronous=FULL (the store's"
        " engine), MLflow's with its own defaults",
        "seeded_versions": setup.SEEDED,
        "enrolment": env.enrolment,
        "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_1_5_15_start": [round(x, 2) for x in load_start],
        "load_average_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(report(cli, ours, mlflow, config), indent=2))


if __name__ == "__main__":
    main()
