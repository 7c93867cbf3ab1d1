"""Prompt benchmark: registry resolve, gateway prompt renders and the prompt gate's throughput.

Prints one JSON object; every figure has a baseline measured in the same run, on one
SQLite governance home in a temporary directory:

- registry_resolve_p95_ms: `prompts.resolve(gov, "support@production")` (20 versions, a
  few pointer moves), against registry_alias_p95_ms: `registry.resolve(gov,
  "churn@champion")` on the same database; resolve_ratio = prompt p95 / model p95.
- gateway_prompt_*: `GET /v1/prompts/support?targeting_key=K&var.product=..&var.question=..`
  on a real `governance serve` process (127.0.0.1), against bare_prompt_*: the same request
  to a bare FastAPI route in its own uvicorn process doing the same sandboxed Jinja2 render
  of the same template and variables, answering the same fields (bench/_bare_prompt.py);
  same client, alternating blocks; with no canary (no render logged) and with a running
  canary (renders logged). gateway_ratio = gateway p99 / bare p99 with no canary;
  gateway_rps_ratio the same for throughput at 4 concurrent callers. The gateway's OIP model
  route is reported beside them as context only (context_model_route), not as a baseline.
- gate_cases_per_s: `prompt_evaluation.run_suite` over a 200-case suite against the chat stub
  (20 ms injected latency) at the target's default concurrency; the baseline is the best a
  serial run could do, 1000 ms / 20 ms = 50 cases/s (gate_ratio = cases_per_s / 50); the
  measured serial run (concurrency 1) is reported as a cross-check.

    .venv/bin/python bench/prompts.py            # ~1 min
    .venv/bin/python bench/prompts.py --requests 3000 --resolves 2000 --cases 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _prompt_gateway as gw  # the gateway's prompt route against the bare render route
import gateway as gateway_bench  # bench/gateway.py: the shared set-up and process helpers
from _prompt_gateway import PROMPT, rounded, spread

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VERSIONS = 20
# Versions (1-based registration order) the production pointer is moved to, in this order;
# the last move is a rollback to an earlier approved version.
POINTER_MOVES = (3, 8, 12, 16, 12)
STUB_LATENCY_MS = 20.0
SERIAL_LOWER_BOUND = 1000.0 / STUB_LATENCY_MS
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def template(i: int) -> str:
    """The template of the i-th registered version (each distinct, same variables)."""
    return f"You support {{{{ product }}}} (revision {i}).\nQuestion: {{{{ question }}}}\n"


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


GATEWAY_KEYS = (
    *("gateway_prompt_p50_ms", "gateway_prompt_p99_ms", "bare_prompt_p50_ms", "bare_prompt_p99_ms"),
    *("gateway_prompt_overhead_p50_ms", "gateway_prompt_overhead_p99_ms"),
    *("gateway_ratio", "gateway_rps_ratio", "gateway_canary", "context_model_route"),
)


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
        missing = gw.route_missing(base)
        if missing:
            result |= {key: None for key in GATEWAY_KEYS} | {"note": missing}
        else:
            t0 = time.perf_counter()
            bare, _ = gw.start_bare(work, base, stack)
            setup["bare_start_s"] = time.perf_counter() - t0
            body = gateway_bench.infer_body(features, values, key="bench-user")
            routes = gw.Routes(base, bare, body)
            result |= gw.measure_gateway(gov, routes, args.requests, prompt_state["candidate"])

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
