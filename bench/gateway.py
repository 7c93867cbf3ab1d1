"""Gateway benchmark: routed, logged OIP inference against a bare FastAPI predict endpoint.

Prints one JSON object: the gateway's latency overhead over a bare uvicorn + FastAPI app
that calls the same model's predict (no routing, no logging, no metrics), both measured in
this run with the same client; throughput of both; the in-process routing decision time;
how long a routing change committed in PostgreSQL takes to be obeyed by two gateway
processes; and how many logged predictions are lost when the PostgreSQL postmaster is
killed with SIGKILL under load and restarted.

Keys: overhead_p50_ms / overhead_p99_ms (gateway minus bare, sequential requests from one
client, alternating blocks), rps / bare_rps / rps_ratio (`--requests` requests from
`--concurrency` concurrent callers on one asyncio httpx client), concurrent16_p99_ms /
bare_concurrent16_p99_ms / concurrent16_p99_ratio (each request's latency in those same
runs: the gateway predicts in a worker thread, off the event loop; the bare app predicts on
the loop, in its async handler), bare_offloop_concurrent16_p99_ms / offloop_p99_ratio (the
bare app's own route that runs the same predict in starlette's threadpool, under the same
load, over the bare one: the thread hop alone; "16" is `--concurrency`), routing_decision_p99_us
(in-process `route()` on a spec with two flag rules and a canary), propagation_ms (worst of
`--trials` changes: commit returned -> the last of two `governance serve` processes serving
the new version; models load before the swap, so a load is counted), log_records_lost
(answered prediction ids missing from the table after SIGKILL of the postmaster, a 3 s
outage under load and a restart). Everything runs on a private PostgreSQL cluster on a free
port and is stopped by PID at the end.

    .venv/bin/python bench/gateway.py                       # ~1.5 min
    .venv/bin/python bench/gateway.py --requests 3000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
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

ENDPOINT = "bench-api"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TARGETS = {
    "overhead_p99_ms": "< 1",
    "rps_ratio": ">= 0.7",
    "propagation_ms": "< 1000",
    "log_records_lost": "== 0",
}
BASELINE = (
    "bare: uvicorn (1 process, same options) serving a FastAPI route that parses the same OIP "
    "v2 body with the same pydantic model, builds the same DataFrame and calls the same "
    "skops-loaded estimator's predict; no routing, no feature checks, no prediction log, "
    "no metrics. The gateway under test is `governance serve` (1 worker) on PostgreSQL."
)
CONCURRENT_BASELINE = (
    "bare_concurrent_p99_ms: the bare app above, whose async handler calls predict on the "
    "event loop, under the same concurrent callers and request count in this run; the "
    "gateway runs decoding, predict and logging in starlette's threadpool. "
    "bare_offloop_concurrent_p99_ms: the same bare route with predict in the threadpool "
    "(run_in_threadpool), the same load."
)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the bare baseline app (run as `bench/gateway.py --bare PORT MODEL_FILE`) -------------


def bare_app(model_file: str):
    """The baseline: OIP body in, predict, OIP body out; nothing else."""
    import pandas as pd
    import skops.io as sio
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    from governance.serving.oip import InferenceRequest

    data = Path(model_file).read_bytes()
    estimator = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    app = FastAPI()

    def predict(body: InferenceRequest) -> JSONResponse:
        frame = pd.DataFrame({t.name: t.data for t in body.inputs})
        out = estimator.predict(frame).tolist()
        output = {"name": "predict", "shape": [len(out)], "datatype": "INT64", "data": out}
        return JSONResponse({"model_name": "bare", "outputs": [output]})

    async def infer(body: InferenceRequest) -> JSONResponse:
        return predict(body)  # on the event loop

    async def infer_offloop(body: InferenceRequest) -> JSONResponse:
        return await run_in_threadpool(predict, body)

    for handler, path in ((infer, "bare"), (infer_offloop, "bare-offloop")):
        # Real classes, not the strings `from __future__ import annotations` leaves: these
        # names are local, so FastAPI could not resolve the strings.
        handler.__annotations__ = {"body": InferenceRequest, "return": JSONResponse}
        app.post(f"/v2/models/{path}/infer")(handler)
    return app


def run_bare(port: int, model_file: str) -> None:
    """Serve the baseline app until interrupted."""
    import uvicorn

    uvicorn.run(
        bare_app(model_file), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


# --- setup ---------------------------------------------------------------------------------


class Cluster:
    """A private PostgreSQL cluster (deployments/postgres.sh on a free port and directory)."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-gateway-pg-", dir="/tmp"))
        self.dir.chmod(0o755)  # the postgres OS user must reach it when run as root
        self.port = free_port()
        self.env = {**os.environ, "PGPORT_TEST": str(self.port), "PGDATABASE_TEST": "bench"}

    def run(self, command: str) -> str:
        """One postgres.sh command; its stdout."""
        done = subprocess.run(
            ["bash", str(REPO / "deployments" / "postgres.sh"), command, str(self.dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postgres.sh {command}: {done.stderr.strip()}")
        return done.stdout.strip()

    def postmaster_pid(self) -> int:
        """The running postmaster's PID, from its pid file."""
        return int((self.dir / f"data-{self.port}" / "postmaster.pid").read_text().split()[0])

    def destroy(self) -> None:
        """Stop the cluster and delete its files."""
        try:
            self.run("destroy")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def governance_env(root: Path, url: str) -> dict[str, str]:
    """GOVERNANCE_* variables for a fresh home on the bench cluster."""
    from governance.config import EXAMPLE_POLICY

    return {
        "GOVERNANCE_HOME": str(root),
        "GOVERNANCE_DATABASE_URL": url,
        "GOVERNANCE_ARTIFACT_ROOT": str(root / "artifacts"),
        "GOVERNANCE_POLICY_FILE": str(EXAMPLE_POLICY),
        "GOVERNANCE_SECRET_KEY_FILE": str(root / "secret.key"),
        "GOVERNANCE_SESSION_FILE": str(root / "session.json"),
    }


# The client key populate() has grace (the example policy's admin) create; every request sends it.
HEADERS: dict[str, str] = {}


def populate(root: Path) -> tuple[list[str], list[float]]:
    """Migrate; register 1.0.0 (production) and 1.1.0 (staging); create the endpoint and a
    client key for every endpoint and route (kept in HEADERS)."""
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from governance.bootstrap import open_governance
    from governance.domain.identity import VerifiedActor
    from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
    from governance.keyring import create_secret_key
    from governance.reports.card_yaml import load_card_yaml
    from governance.services.registry import versions as registry_versions
    from governance.services.registry.versions import VersionSpec
    from governance.services.rollout import client_keys, endpoints
    from governance.services.rollout.production import _transition_in as transition_in
    from governance.store.schema import upgrade

    create_secret_key(root / "secret.key")
    bare = open_governance(check_schema=False)
    upgrade(bare.engine)
    bare.close()
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    blobs = [
        sio.dumps(make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(x, y))
        for c in (1.0, 0.1)
    ]
    (root / "model.skops").write_bytes(blobs[0])
    card = load_card_yaml((REPO / "examples" / "cards" / "churn-classifier.yaml").read_text())
    model = RegisteredModel(
        name="churn", owner="alice", team="t", risk_level=RiskLevel.high, kind=ModelKind.sklearn
    )
    gov = open_governance()
    try:
        for version, blob in zip(("1.0.0", "1.1.0"), blobs, strict=True):
            spec = VersionSpec(name="churn", version=version, created_by="alice")
            registry_versions.register_version(
                gov, spec, card, artifact=blob, now=START, new_model=model
            )
            with gov.store.write() as tx:
                transition_in(
                    tx, "churn", version, LifecycleStage.staging, actor="bench", now=START
                )
        with gov.store.write() as tx:
            transition_in(tx, "churn", "1.0.0", LifecycleStage.production, actor="bench", now=START)
        endpoints.create(
            gov,
            ENDPOINT,
            model="churn",
            actor=VerifiedActor(name="carol", method="totp"),
            now=START,
        )
        issued = client_keys.create(
            gov,
            "bench",
            endpoints=["*"],
            routes=["predict", "outcomes", "prompts"],
            actor=VerifiedActor(name="grace", method="totp"),
            now=START,
        )
        HEADERS["Authorization"] = f"Bearer {issued.key}"
    finally:
        gov.close()
    return list(x.columns), [float(v) for v in x.iloc[0]]


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child process in its own session, output to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    """Stop one child we started: SIGINT, then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_up(url: str, process: subprocess.Popen, path: str = "/v2/health/ready") -> None:
    """Wait until the server answers 200 on `path`."""
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code in (200, 405):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# --- measurements --------------------------------------------------------------------------


def infer_body(features: list[str], values: list[float], key: str | None = None) -> dict:
    """One row as one [1] FP64 tensor per feature."""
    inputs = [
        {"name": f, "shape": [1], "datatype": "FP64", "data": [v]}
        for f, v in zip(features, values, strict=True)
    ]
    return {"inputs": inputs, **({"parameters": {"targeting_key": key}} if key else {})}


def latencies(urls: dict[str, str], body: dict, rounds: int, per_round: int) -> dict[str, list]:
    """Sequential requests, alternating blocks between the targets so drift hits both."""
    import httpx

    samples: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(timeout=10, headers=HEADERS) as client:
        for url in urls.values():  # warm-up: connections, caches, first predict
            for _ in range(50):
                client.post(url, json=body).raise_for_status()
        for _ in range(rounds):
            for name, url in urls.items():
                for _ in range(per_round):
                    began = time.perf_counter()
                    client.post(url, json=body).raise_for_status()
                    samples[name].append((time.perf_counter() - began) * 1000)
    return samples


def throughput(url: str, body: dict, total: int, concurrency: int) -> tuple[float, list[float]]:
    """Requests per second, and each one's latency (ms), of `total` concurrent requests."""
    import httpx

    async def main() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=HEADERS) as client:
            remaining = total
            samples: list[float] = []

            async def caller() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    sent = time.perf_counter()
                    (await client.post(url, json=body)).raise_for_status()
                    samples.append((time.perf_counter() - sent) * 1000)

            began = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return total / (time.perf_counter() - began), samples

    return asyncio.run(main())


def routing_decision_p99_us(calls: int = 20000) -> float:
    """p99 of one in-process route() on a spec with flags (attributes, percentage) and a canary."""
    from governance.domain.rollout import FlagRule, RoutingSpec, route

    spec = RoutingSpec(
        stable="1.0.0",
        canary="1.1.0",
        canary_weight=10,
        flags=[
            FlagRule(name="beta-org", version="1.1.0", org_ids=["o-1", "o-2"]),
            FlagRule(name="eu-pct", version="1.1.0", attributes={"region": "eu"}, percentage=20),
        ],
    )
    attrs = {"org_id": "o-9", "region": "eu"}
    timings = []
    for i in range(calls):
        key = f"user-{i}"
        began = time.perf_counter_ns()
        route(ENDPOINT, "0123456789abcdef", spec, key, attrs)
        timings.append((time.perf_counter_ns() - began) / 1000)
    return percentile(timings, 0.99)


def change_stable(version: str) -> float:
    """Commit a routing change to `version`; the perf_counter time of the commit."""
    from governance.bootstrap import open_governance
    from governance.services.rollout import routing

    gov = open_governance()
    try:
        with gov.store.write() as tx:
            routing.change_in(
                tx,
                ENDPOINT,
                lambda spec: routing.updated(spec, stable=version),
                actor="carol",
                reason="bench",
                now=datetime.now(UTC),
            )
        return time.perf_counter()
    finally:
        gov.close()


def propagation_ms(urls: list[str], body: dict, trials: int) -> list[float]:
    """Per trial: commit -> the last of the gateway processes serving the new version."""

    results = []
    versions = ["1.1.0", "1.0.0"]
    for trial in range(trials):
        wanted = versions[trial % 2]
        seen: dict[str, float] = {}
        committed = change_stable(wanted)

        watchers = [
            threading.Thread(target=_watch, args=(url, body, wanted, committed, seen))
            for url in urls
        ]
        for thread in watchers:
            thread.start()
        for thread in watchers:
            thread.join()
        if len(seen) != len(urls):
            raise RuntimeError(f"trial {trial}: not every gateway obeyed within 10 s")
        results.append((max(seen.values()) - committed) * 1000)
        time.sleep(0.3)
    return results


def _watch(url: str, body: dict, wanted: str, committed: float, seen: dict[str, float]) -> None:
    """Ask one gateway until it serves `wanted`; note when it first did."""
    import httpx

    with httpx.Client(timeout=10, headers=HEADERS) as client:
        while time.perf_counter() - committed < 10:
            if client.post(url, json=body).json()["model_version"] == wanted:
                seen[url] = time.perf_counter()
                return
            time.sleep(0.002)


def records_lost(cluster: Cluster, url: str, body: dict, home: Path) -> dict:
    """kill -9 of the postmaster under a bounded load; restart; count answered ids not logged."""
    import httpx
    import sqlalchemy as sa

    answered: list[str] = []
    failed: list[int] = []
    halt = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30, headers=HEADERS) as client:
            while not halt.is_set():
                answer = client.post(url, json=body)
                if answer.status_code == 200:
                    answered.extend(answer.json()["parameters"]["prediction_ids"])
                else:
                    failed.append(answer.status_code)
                time.sleep(0.002)

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(1.5)
    os.kill(cluster.postmaster_pid(), signal.SIGKILL)
    killed_at = len(answered)
    time.sleep(3.0)
    during = len(answered) - killed_at
    cluster.run("start")
    time.sleep(2.0)
    halt.set()
    thread.join()
    engine = sa.create_engine(os.environ["GOVERNANCE_DATABASE_URL"])
    try:
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT id FROM predictions")).scalars().all()
            if set(answered) <= set(stored) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    return {
        "log_records_lost": len(set(answered) - set(stored)),
        "answered_during_fault": during,
        "answered_total": len(answered),
        "duplicate_ids_in_table": len(stored) - len(set(stored)),
        "error_answers": len(failed),
        "spool_files_not_drained": sum(
            1 for f in (home / "spool").glob("*.jsonl") if f.stat().st_size
        ),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds (blocks per target)")
    parser.add_argument("--per-round", type=int, default=300, help="requests per latency block")
    parser.add_argument("--requests", type=int, default=3000, help="requests per throughput run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent throughput callers")
    parser.add_argument("--trials", type=int, default=6, help="routing changes to time")
    parser.add_argument("--bare", nargs=2, metavar=("PORT", "MODEL"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Set up a cluster, a registry, two gateways and the bare app; measure; stop; print JSON."""
    args = parse_args(argv)
    if args.bare:
        run_bare(int(args.bare[0]), args.bare[1])
        return
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        cluster = Cluster(work)
        stack.callback(cluster.destroy)
        url = cluster.run("start")
        os.environ.update(governance_env(work, url))
        features, values = populate(work)
        env = {**os.environ}
        cli = [sys.executable, "-c", "from governance.cli import main; main()", "serve"]
        ports = [free_port(), free_port(), free_port()]
        gateways = []
        for i, port in enumerate(ports[:2]):
            process = spawn([*cli, "--port", str(port)], env, work / f"gateway-{i}.log")
            stack.callback(stop, process)  # only what this script started, by its Popen/PID
            gateways.append((f"http://127.0.0.1:{port}", process))
        bare = spawn(
            [sys.executable, __file__, "--bare", str(ports[2]), str(work / "model.skops")],
            env,
            work / "bare.log",
        )
        stack.callback(stop, bare)
        bare_url = f"http://127.0.0.1:{ports[2]}"
        for gateway_url, process in gateways:
            wait_up(gateway_url, process)
        wait_up(bare_url, bare, "/openapi.json")

        body = infer_body(features, values, key="bench-user")
        gw_infer = f"{gateways[0][0]}/v2/models/{ENDPOINT}/infer"
        bare_infer = f"{bare_url}/v2/models/bare/infer"
        samples = latencies(
            {"gateway": gw_infer, "bare": bare_infer}, body, args.rounds, args.per_round
        )
        rps, under_load = throughput(gw_infer, body, args.requests, args.concurrency)
        bare_rps, bare_under_load = throughput(bare_infer, body, args.requests, args.concurrency)
        offloop_infer = f"{bare_url}/v2/models/bare-offloop/infer"
        _, offloop_under_load = throughput(offloop_infer, body, args.requests, args.concurrency)
        decision_us = routing_decision_p99_us()
        propagation = propagation_ms(
            [f"{u}/v2/models/{ENDPOINT}/infer" for u, _ in gateways], body, args.trials
        )
        fault = records_lost(cluster, gw_infer, body, work)

        gw, base = samples["gateway"], samples["bare"]
        c = args.concurrency
        p99 = percentile(under_load, 0.99)
        bare_p99 = percentile(bare_under_load, 0.99)
        offloop_p99 = percentile(offloop_under_load, 0.99)
        result = {
            "overhead_p50_ms": round(statistics.median(gw) - statistics.median(base), 3),
            "overhead_p99_ms": round(percentile(gw, 0.99) - percentile(base, 0.99), 3),
            "rps": round(rps, 1),
            "bare_rps": round(bare_rps, 1),
            "rps_ratio": round(rps / bare_rps, 3),
            f"concurrent{c}_p99_ms": round(p99, 3),
            f"bare_concurrent{c}_p99_ms": round(bare_p99, 3),
            f"concurrent{c}_p99_ratio": round(p99 / bare_p99, 3),
            f"bare_offloop_concurrent{c}_p99_ms": round(offloop_p99, 3),
            "offloop_p99_ratio": round(offloop_p99 / bare_p99, 3),
            "routing_decision_p99_us": round(decision_us, 2),
            "propagation_ms": round(max(propagation), 1),
            "log_records_lost": fault["log_records_lost"],
            "targets": TARGETS,
            "targets_met": {
                "overhead_p99_ms": percentile(gw, 0.99) - percentile(base, 0.99) < 1,
                "rps_ratio": rps / bare_rps >= 0.7,
                "propagation_ms": max(propagation) < 1000,
                "log_records_lost": fault["log_records_lost"] == 0,
            },
            "baseline": BASELINE,
            "concurrent_baseline": CONCURRENT_BASELINE,
            "details": {
                "gateway_p50_ms": round(statistics.median(gw), 3),
                "gateway_p99_ms": round(percentile(gw, 0.99), 3),
                "bare_p50_ms": round(statistics.median(base), 3),
                "bare_p99_ms": round(percentile(base, 0.99), 3),
                f"concurrent{c}_p50_ms": round(statistics.median(under_load), 3),
                f"bare_concurrent{c}_p50_ms": round(statistics.median(bare_under_load), 3),
                f"bare_offloop_concurrent{c}_p50_ms": round(
                    statistics.median(offloop_under_load), 3
                ),
                "latency_requests_each": len(gw),
                "propagation_trials_ms": [round(p, 1) for p in propagation],
                "propagation_gateway_processes": len(gateways),
                "poll_seconds": float(os.environ.get("GOVERNANCE_GATEWAY_POLL_SECONDS", 0.2)),
                "fault": fault,
                "features_per_row": len(features),
                "throughput_requests": args.requests,
                "throughput_concurrency": args.concurrency,
                "cpus": os.cpu_count(),
                "load_average_start": [round(v, 2) for v in load_at_start],
                "load_average_end": [round(v, 2) for v in os.getloadavg()],
            },
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
