"""Prompt benchmark: registry resolve, gateway prompt renders and the prompt gate's throughput.

Prints one JSON object; every figure has a baseline measured in the same run, on one
SQLite governance home in a temporary directory:

- registry_resolve_p95_ms: `prompts.resolve(gov, "support@production")` (20 versions, a
  few pointer moves), against registry_alias_p95_ms: `registry.resolve(gov,
  "churn@champion")` on the same database; resolve_ratio = prompt p95 / model p95.
- gateway_prompt_*: `GET /v1/prompts/support?targeting_key=K&var.product=..&var.question=..`
  on a real `governance serve` process (127.0.0.1), against the same gateway's OIP
  `POST /v2/models/{endpoint}/infer` (as bench/gateway.py calls it); with no canary (no
  render logged) and with a running canary (renders logged); gateway_ratio = prompt p99 /
  model p99 with no canary.
- gate_cases_per_s: `prompt_evaluation.run_suite` over a 200-case suite against the chat stub
  (20 ms injected latency) at the target's default concurrency; the baseline is the best a
  serial run could do, 1000 ms / 20 ms = 50 cases/s (gate_ratio = cases_per_s / 50); the
  measured serial run (concurrency 1) is reported as a cross-check.

    .venv/bin/python bench/prompts.py            # ~1 min
    .venv/bin/python bench/prompts.py --requests 3000 --resolves 2000 --cases 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gateway as gateway_bench  # bench/gateway.py: the shared set-up and process helpers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROMPT = "support"
VERSIONS = 20
# Versions (1-based registration order) the production pointer is moved to, in this order;
# the last move is a rollback to an earlier approved version.
POINTER_MOVES = (3, 8, 12, 16, 12)
STUB_LATENCY_MS = 20.0
SERIAL_LOWER_BOUND = 1000.0 / STUB_LATENCY_MS
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VARS = {"product": "Router", "question": "Why"}
CONCURRENT_CLIENTS = 4


def template(i: int) -> str:
    """The template of the i-th registered version (each distinct, same variables)."""
    return f"You support {{{{ product }}}} (revision {i}).\nQuestion: {{{{ question }}}}\n"


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A figure for the JSON."""
    return None if value is None else round(value, digits)


def spread(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) and the count, in milliseconds."""
    return {
        "p50_ms": rounded(statistics.median(samples)),
        "p95_ms": rounded(gateway_bench.percentile(samples, 0.95)),
        "p99_ms": rounded(gateway_bench.percentile(samples, 0.99)),
        "n": len(samples),
    }


# --- set-up --------------------------------------------------------------------------------


def populate_prompts(gov) -> dict:
    """Register VERSIONS versions of `support`, move the pointer POINTER_MOVES; a candidate."""
    from governance.domain.identity import VerifiedActor
    from governance.domain.prompts import PromptStatus
    from governance.services.prompts import prompt_registry

    alice = VerifiedActor(name="alice", method="totp")
    registered = []
    for i in range(1, VERSIONS + 1):
        now = START + timedelta(minutes=i)
        registered.append(
            prompt_registry.register(
                gov, prompt_id=PROMPT, template=template(i), actor=alice, now=now
            )
        )
    for n, i in enumerate(POINTER_MOVES):
        version, now = registered[i - 1], START + timedelta(hours=1, minutes=n)
        rollback = i in POINTER_MOVES[:n]
        if not rollback:
            prompt_registry.submit(gov, version.ref, actor=alice, now=now)
        with gov.store.write() as tx:
            if not rollback:
                tx.prompts.set_status(PROMPT, version.version, PromptStatus.approved, now)
            prompt_registry.move_pointer_in(
                tx,
                version,
                kind="rollback" if rollback else "promotion",
                actor="bench",
                now=now,
                reason="bench",
            )
    # The latest version waits in review: the canary's candidate later on.
    candidate = prompt_registry.submit(
        gov, registered[-1].ref, actor=alice, now=START + timedelta(days=1)
    )
    return {
        "production": prompt_registry.resolve(gov, f"{PROMPT}@production").version,
        "candidate": candidate.version,
        "moves": len(prompt_registry.history(gov, PROMPT)),
    }


def start_canary(gov, candidate_version: str):
    """Open a promotion request for the candidate, as promote-prompt does, and start its canary."""
    import uuid

    from governance.domain import approvals as rules
    from governance.services.prompts import prompt_canary

    now = datetime.now(UTC)
    with gov.store.write() as tx:
        version = tx.prompts.get_version(PROMPT, candidate_version)
        stable = tx.prompts.production(PROMPT).version
        request = rules.open_prompt_request(
            id=str(uuid.uuid4()),
            prompt_id=PROMPT,
            version=version.version,
            requested_by="alice",
            version_created_by="alice",
            evidence={
                "template_digest": version.template_digest,
                "suite_digest": "0" * 64,
                "evaluation_run_id": "bench",
                "incumbent_version": stable,
                "policy_version": gov.policy.version,
                "target_stage": "production",
            },
            policy=gov.policy,
            now=now,
        )
        tx.approvals.add_request(request, prompt_version_id=version.id)
        return prompt_canary.start_in(tx, request, version, stable, gov.policy, now)


def renders_logged(gov) -> int:
    """Rows in the render log."""
    import sqlalchemy as sa

    from governance.store.tables_prompts import prompt_renders

    with gov.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(prompt_renders)).scalar_one()


def suite_yaml(cases: int) -> str:
    """A suite of `cases` cases, three assertions each (icontains, not-icontains, latency)."""
    import yaml

    topics = ("refund", "shipping", "warranty", "password")
    body = {
        "description": "bench support answers",
        "defaults": {"assert": [{"type": "latency", "threshold": 5000}]},
        "cases": [
            {
                "description": f"case {i} ({topics[i % 4]})",
                "vars": {"product": "Router", "question": f"{topics[i % 4]} question {i}"},
                "input": f"Tell me about {topics[i % 4]}, request {i}",
                "assert": [
                    {"type": "icontains", "value": topics[i % 4]},
                    {"type": "not-icontains", "value": "sorry"},
                    {"type": "latency", "threshold": 2000},
                ],
            }
            for i in range(cases)
        ],
    }
    return yaml.safe_dump(body, sort_keys=False)


STUB_RULES = [
    {"when": "refund", "reply": "A refund is paid within 14 days."},
    {"when": "shipping", "reply": "Shipping takes 2 days."},
    {"when": "warranty", "reply": "The warranty lasts 2 years."},
    {"when": "password", "reply": "Reset your password from the login page."},
]


# --- measurements --------------------------------------------------------------------------


def resolve_latencies(calls: dict[str, Callable[[], object]], count: int, block: int = 200):
    """Per call: `count` timed calls after 200 untimed, in alternating blocks of `block`."""
    for call in calls.values():
        for _ in range(200):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(max(1, count // block)):
        for name, call in calls.items():
            for _ in range(block):
                began = time.perf_counter_ns()
                call()
                samples[name].append((time.perf_counter_ns() - began) / 1e6)
    return samples


def measure_registry(gov, count: int) -> dict:
    """The prompt's production resolve against the model alias (and stage) resolve."""
    from governance.services.prompts import prompt_registry
    from governance.services.registry import versions

    samples = resolve_latencies(
        {
            "prompt": lambda: prompt_registry.resolve(gov, f"{PROMPT}@production"),
            "alias": lambda: versions.resolve(gov, "churn@champion"),
            "stage": lambda: versions.resolve(gov, "churn@production"),
        },
        count,
    )
    prompt, alias = spread(samples["prompt"]), spread(samples["alias"])
    return {
        "registry_resolve_p95_ms": prompt["p95_ms"],
        "registry_alias_p95_ms": alias["p95_ms"],
        "resolve_ratio": rounded(prompt["p95_ms"] / alias["p95_ms"]),
        "registry_details": {
            "prompt_production": prompt,
            "model_alias_champion": alias,
            "model_stage_production": spread(samples["stage"]),
            "calls": count,
            "warm_up_calls": 200,
        },
    }


class Routes:
    """The two gateway requests compared: a prompt render and an OIP model inference."""

    def __init__(self, base: str, body: dict, keys: int = 1000) -> None:
        """Prompt URLs for `keys` distinct targeting keys; the model route and its body."""
        query = "&".join(f"var.{k}={v}" for k, v in VARS.items())
        self.prompt_urls = [
            f"{base}/v1/prompts/{PROMPT}?targeting_key=user-{i}&{query}" for i in range(keys)
        ]
        self.model_url = f"{base}/v2/models/{gateway_bench.ENDPOINT}/infer"
        self.body = body

    def sequential(self, requests: int, block: int = 300) -> dict[str, list[float]]:
        """Sequential requests on one keep-alive client, alternating blocks between routes."""
        import httpx

        samples: dict[str, list[float]] = {"prompt": [], "model": []}
        self.variants: Counter[str] = Counter()
        with httpx.Client(timeout=10) as client:
            for i in range(100):  # warm-up: connection, caches, first predict
                client.get(self.prompt_urls[i]).raise_for_status()
                client.post(self.model_url, json=self.body).raise_for_status()
            for r in range(max(1, requests // block)):
                for i in range(block):
                    url = self.prompt_urls[(r * block + i) % len(self.prompt_urls)]
                    began = time.perf_counter()
                    answer = client.get(url).raise_for_status()
                    samples["prompt"].append((time.perf_counter() - began) * 1000)
                    self.variants[answer.json()["variant"]] += 1  # after the clock
                for _ in range(block):
                    began = time.perf_counter()
                    client.post(self.model_url, json=self.body).raise_for_status()
                    samples["model"].append((time.perf_counter() - began) * 1000)
        return samples

    def concurrent(self, requests: int, clients: int) -> dict[str, dict]:
        """Per route: `requests` requests from `clients` concurrent callers; latencies, rps."""
        import httpx

        async def run(send) -> dict:
            limits = httpx.Limits(max_connections=clients)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                samples: list[float] = []
                left = requests

                async def caller() -> None:
                    nonlocal left
                    while left > 0:
                        left -= 1
                        began = time.perf_counter()
                        (await send(client, left)).raise_for_status()
                        samples.append((time.perf_counter() - began) * 1000)

                began = time.perf_counter()
                await asyncio.gather(*(caller() for _ in range(clients)))
                elapsed = time.perf_counter() - began
            return {**spread(samples), "rps": round(requests / elapsed, 1)}

        def prompt(client, i):
            """One render request (the key cycles)."""
            return client.get(self.prompt_urls[i % len(self.prompt_urls)])

        def model(client, i):
            """One OIP inference request."""
            return client.post(self.model_url, json=self.body)

        return {"prompt": asyncio.run(run(prompt)), "model": asyncio.run(run(model))}


def wait_for_candidate(routes: Routes, candidate: str, timeout: float = 30.0) -> float:
    """Seconds until the gateway serves the canary's candidate to some key."""
    import httpx

    began = time.monotonic()
    with httpx.Client(timeout=10) as client:
        while time.monotonic() - began < timeout:
            for url in routes.prompt_urls[:200]:
                if client.get(url).json().get("version") == candidate:
                    return time.monotonic() - began
            time.sleep(0.05)
    raise RuntimeError(f"the gateway did not serve the candidate {candidate} in {timeout:g} s")


GATEWAY_KEYS = (
    *("gateway_prompt_p50_ms", "gateway_prompt_p99_ms", "gateway_model_p99_ms", "gateway_ratio"),
    *("gateway_prompt_canary_p50_ms", "gateway_prompt_canary_p99_ms"),
    *("gateway_model_canary_phase_p99_ms", "gateway_canary_ratio"),
)


def route_missing(routes: Routes) -> str | None:
    """Why the gateway's prompt route cannot be measured, or None when it answers 200."""
    import httpx

    answer = httpx.get(routes.prompt_urls[0], timeout=10)
    if answer.status_code == 200:
        return None
    return (
        f"GET /v1/prompts/{PROMPT} answered {answer.status_code} ({answer.text[:120]}): "
        "the gateway has no prompt route in this checkout, so the gateway figures are null"
    )


def measure_gateway(gov, routes: Routes, requests: int, candidate: str) -> dict:
    """Prompt renders against model inferences, with no canary and then with a running one."""
    phases = {}
    for phase in ("no_canary", "canary"):
        logged_before = renders_logged(gov)
        if phase == "canary":
            rollout = start_canary(gov, candidate)
            pickup_s = wait_for_candidate(routes, candidate)
            logged_before = renders_logged(gov)
        seq = routes.sequential(requests)
        conc = routes.concurrent(requests, CONCURRENT_CLIENTS)
        time.sleep(1.0)  # let the render log flush before counting
        phases[phase] = {
            "sequential": {"prompt": spread(seq["prompt"]), "model": spread(seq["model"])},
            f"concurrent_{CONCURRENT_CLIENTS}_clients": conc,
            "renders_logged": renders_logged(gov) - logged_before,
            "sequential_prompt_variants": dict(routes.variants),
        }
        if phase == "canary":
            phases[phase] |= {
                "canary_weight": rollout.weight,
                "canary_pickup_s": round(pickup_s, 2),
            }
    quiet, canary = phases["no_canary"]["sequential"], phases["canary"]["sequential"]
    return {
        "gateway_prompt_p50_ms": quiet["prompt"]["p50_ms"],
        "gateway_prompt_p99_ms": quiet["prompt"]["p99_ms"],
        "gateway_model_p99_ms": quiet["model"]["p99_ms"],
        "gateway_ratio": rounded(quiet["prompt"]["p99_ms"] / quiet["model"]["p99_ms"]),
        "gateway_prompt_canary_p50_ms": canary["prompt"]["p50_ms"],
        "gateway_prompt_canary_p99_ms": canary["prompt"]["p99_ms"],
        "gateway_model_canary_phase_p99_ms": canary["model"]["p99_ms"],
        "gateway_canary_ratio": rounded(canary["prompt"]["p99_ms"] / canary["model"]["p99_ms"]),
        "gateway_details": phases,
    }


def measure_gate(gov, root: Path, cases: int, repeats: int) -> dict:
    """run_suite over a `cases`-case suite against the chat stub: default concurrency, then 1."""
    from deployments.chat_stub import start_stub
    from governance.llm.targets import TargetConfig
    from governance.services.prompts import prompt_evaluation, prompt_registry

    began = time.perf_counter()
    path = root / "bench-suite.yaml"
    path.write_text(suite_yaml(cases))
    prompt_evaluation.register_suite(gov, name="bench-suite", path=path, actor="alice", now=START)
    with gov.store.read() as tx:
        suite_row = prompt_evaluation.find_suite_in(tx, "bench-suite")
    text = prompt_registry.resolve(gov, f"{PROMPT}@production").template
    stub = start_stub(rules=STUB_RULES, latency_ms=STUB_LATENCY_MS)
    setup_s = time.perf_counter() - began
    try:
        target = TargetConfig(kind="openai", base_url=stub.base_url, model="stub")
        serial = target.model_copy(update={"concurrency": 1})
        prompt_evaluation.run_suite(gov, suite_row, text, target)  # warm-up, untimed
        runs, high_water = [], []
        for _ in range(repeats):
            stub.reset()
            t0 = time.perf_counter()
            result = prompt_evaluation.run_suite(gov, suite_row, text, target)
            runs.append(time.perf_counter() - t0)
            high_water.append(stub.usage()["in_flight_max"])
        stub.reset()
        t0 = time.perf_counter()
        serial_result = prompt_evaluation.run_suite(gov, suite_row, text, serial)
        serial_s = time.perf_counter() - t0
        serial_high_water = stub.usage()["in_flight_max"]
    finally:
        stub.stop()
    seconds = statistics.median(runs)
    rate = cases / seconds
    return {
        "gate_cases_per_s": round(rate, 1),
        "serial_lower_bound_cases_per_s": SERIAL_LOWER_BOUND,
        "gate_ratio": round(rate / SERIAL_LOWER_BOUND, 2),
        "gate_concurrency": target.concurrency,
        "gate_serial_cases_per_s": round(cases / serial_s, 1),
        "stub_in_flight_max": max(high_water),
        "gate_details": {
            "cases": cases,
            "assertions_per_case": 4,  # three of the case's own and the defaults' latency one
            "stub_latency_ms": STUB_LATENCY_MS,
            "runs_seconds": [round(s, 3) for s in runs],
            "median_seconds": round(seconds, 3),
            "pass_rate": result.pass_rate,
            "serial_seconds": round(serial_s, 3),
            "serial_pass_rate": serial_result.pass_rate,
            "serial_in_flight_max": serial_high_water,
            "suite_and_stub_setup_s": round(setup_s, 3),
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolves", type=int, default=2000, help="timed resolves per lookup")
    parser.add_argument("--requests", type=int, default=3000, help="gateway requests per route")
    parser.add_argument("--cases", type=int, default=200, help="cases in the gate's suite")
    parser.add_argument("--repeats", type=int, default=3, help="timed gate runs (median)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Set up one SQLite home, a gateway and the stub; measure; stop by PID; print JSON."""
    args = parse_args(argv)
    began = time.perf_counter()
    load_at_start = os.getloadavg()
    setup: dict[str, float] = {}
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="governance-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        os.environ.update(gateway_bench.governance_env(work, f"sqlite:///{work / 'gov.db'}"))
        from governance.bootstrap import open_governance
        from governance.services.registry import versions

        t0 = time.perf_counter()
        features, values = gateway_bench.populate(work)  # churn 1.0.0 in production, endpoint
        gov = open_governance()
        stack.callback(gov.close)
        versions.set_alias(gov, "churn", "champion", "1.0.0", actor="bench", now=START)
        setup["models_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        prompt_state = populate_prompts(gov)
        setup["prompts_s"] = time.perf_counter() - t0

        result |= measure_registry(gov, args.resolves)

        t0 = time.perf_counter()
        port = gateway_bench.free_port()
        cli = [sys.executable, "-c", "from governance.cli import main; main()", "serve"]
        process = gateway_bench.spawn([*cli, "--port", str(port)], {**os.environ}, work / "gw.log")
        stack.callback(gateway_bench.stop, process)  # only what this script started, by PID
        base = f"http://127.0.0.1:{port}"
        gateway_bench.wait_up(base, process)
        setup["gateway_start_s"] = time.perf_counter() - t0
        routes = Routes(base, gateway_bench.infer_body(features, values, key="bench-user"))
        missing = route_missing(routes)
        if missing:
            result |= {key: None for key in GATEWAY_KEYS} | {"note": missing}
        else:
            result |= measure_gateway(gov, routes, args.requests, prompt_state["candidate"])

        result |= measure_gate(gov, work, args.cases, args.repeats)
        setup["gate_suite_and_stub_s"] = result["gate_details"].pop("suite_and_stub_setup_s")
    result |= {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "setup_seconds": {k: round(v, 2) for k, v in setup.items()},
        "total_seconds": round(time.perf_counter() - began, 1),
        "config": {
            "database": "sqlite (WAL, sync=FULL), one temporary home",
            "prompt": {"id": PROMPT, "versions": VERSIONS, **prompt_state},
            "resolves": args.resolves,
            "gateway_requests_per_route": args.requests,
            "gateway_workers": 1,
            "load_average_start": [round(v, 2) for v in load_at_start],
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
