"""The gateway half of bench/prompts.py: the gateway's prompt route against a bare render route.

Both are real uvicorn processes on 127.0.0.1, 1 process each: `governance serve` (the
gateway) and bench/_bare_prompt.py (a FastAPI route doing the same sandboxed Jinja2 render of
the same template with the same variables, answering the same fields). The same client
sends the same requests to both, alternating blocks, in the same run. The gateway's OIP model
route is measured beside them as context only: it is different work, not a baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import gateway as gateway_bench  # bench/gateway.py: the shared process helpers

HERE = Path(__file__).resolve().parent
PROMPT = "support"
VARS = {"product": "Router", "question": "Why"}
CONCURRENT_CLIENTS = 4
ROUTES = ("prompt", "bare_prompt", "model")
BASELINE = (
    "bare_prompt: a bare FastAPI route in its own uvicorn process (127.0.0.1, 1 process, the "
    "options `governance serve` passes) that renders the same template (the gateway's "
    "production version, read from the gateway's own answer) in Jinja2's sandbox with the same "
    "variables through the same governance.llm.templates.render and answers the same JSON "
    "fields and ETag/Cache-Control headers; no prompt cache, query validation, variable "
    "check, canary variant or render log. Same client, same requests, alternating blocks, "
    "same run. bodies_identical checks its answer against the gateway's."
)
CONTEXT = (
    "context only, not a baseline: the same gateway's OIP POST /v2/models/{endpoint}/infer "
    "(parse, feature checks, predict, prediction log), different work from a render"
)


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


class Routes:
    """The requests compared: gateway render, bare render, and the model route (context)."""

    def __init__(self, base: str, bare: str, body: dict, keys: int = 1000) -> None:
        """Prompt URLs for `keys` distinct targeting keys on both apps; the model route."""
        query = "&".join(f"var.{k}={v}" for k, v in VARS.items())
        path = f"/v1/prompts/{PROMPT}?{{}}&{query}"
        self.urls = {
            "prompt": [base + path.format(f"targeting_key=user-{i}") for i in range(keys)],
            "bare_prompt": [bare + path.format(f"targeting_key=user-{i}") for i in range(keys)],
        }
        self.model_url = f"{base}/v2/models/{gateway_bench.ENDPOINT}/infer"
        self.body = body
        self.variants: Counter[str] = Counter()

    def send(self, client, route: str, i: int):
        """Request i of `route` (a response, or a coroutine on an async client)."""
        if route == "model":
            return client.post(self.model_url, json=self.body)
        urls = self.urls[route]
        return client.get(urls[i % len(urls)])

    def sequential(self, requests: int, block: int = 300) -> dict[str, list[float]]:
        """Sequential requests on one keep-alive client, alternating blocks between routes."""
        import httpx

        samples: dict[str, list[float]] = {r: [] for r in ROUTES}
        self.variants = Counter()
        with httpx.Client(timeout=10, headers=gateway_bench.HEADERS) as client:
            for i in range(100):  # warm-up: connections, caches, first predict
                for route in ROUTES:
                    self.send(client, route, i).raise_for_status()
            for b in range(max(1, requests // block)):
                for route in ROUTES:
                    for i in range(b * block, (b + 1) * block):
                        began = time.perf_counter()
                        answer = self.send(client, route, i).raise_for_status()
                        samples[route].append((time.perf_counter() - began) * 1000)
                        if route == "prompt":
                            self.variants[answer.json()["variant"]] += 1  # after the clock
        return samples

    def concurrent(self, requests: int, clients: int, rounds: int = 3) -> dict[str, dict]:
        """Per route: `requests` from `clients` concurrent callers, in alternating rounds."""
        import httpx

        async def run(route: str, count: int) -> tuple[list[float], float]:
            limits = httpx.Limits(max_connections=clients)
            async with httpx.AsyncClient(
                timeout=30, limits=limits, headers=gateway_bench.HEADERS
            ) as client:
                samples: list[float] = []
                left = count

                async def caller() -> None:
                    nonlocal left
                    while left > 0:
                        left -= 1
                        began = time.perf_counter()
                        (await self.send(client, route, left)).raise_for_status()
                        samples.append((time.perf_counter() - began) * 1000)

                began = time.perf_counter()
                await asyncio.gather(*(caller() for _ in range(clients)))
                return samples, time.perf_counter() - began

        samples: dict[str, list[float]] = {r: [] for r in ROUTES}
        seconds = dict.fromkeys(ROUTES, 0.0)
        for _ in range(rounds):
            for route in ROUTES:
                taken, elapsed = asyncio.run(run(route, requests // rounds))
                samples[route] += taken
                seconds[route] += elapsed
        return {
            r: {**spread(samples[r]), "rps": round(len(samples[r]) / seconds[r], 1)} for r in ROUTES
        }


def start_bare(work: Path, gateway_base: str, stack) -> tuple[str, dict]:
    """Start the bare app on the gateway's production answer; its base URL and that answer."""
    import httpx

    query = {f"var.{k}": v for k, v in VARS.items()}
    answer = httpx.get(
        f"{gateway_base}/v1/prompts/{PROMPT}",
        params=query,
        headers=gateway_bench.HEADERS,
        timeout=10,
    )
    answer.raise_for_status()
    spec = answer.json()
    spec_file = work / "bare-prompt.json"
    spec_file.write_text(json.dumps(spec))
    port = gateway_bench.free_port()
    command = [sys.executable, str(HERE / "_bare_prompt.py"), str(port), str(spec_file)]
    process = gateway_bench.spawn(command, {**os.environ}, work / "bare-prompt.log")
    stack.callback(gateway_bench.stop, process)  # only what this script started, by PID
    base = f"http://127.0.0.1:{port}"
    gateway_bench.wait_up(base, process, path="/health")
    return base, spec


def same_answers(routes: Routes) -> dict:
    """Whether both apps answer the same body and headers to the same requests (no canary)."""
    import httpx

    def answer(url: str) -> tuple[dict, dict]:
        got = httpx.get(url, headers=gateway_bench.HEADERS, timeout=10).raise_for_status()
        return got.json(), {h: got.headers.get(h) for h in ("etag", "cache-control")}

    pairs = [
        (answer(routes.urls["prompt"][i]), answer(routes.urls["bare_prompt"][i])) for i in (0, 1)
    ]
    return {
        "bodies_identical": all(g[0] == b[0] for g, b in pairs),
        "headers_identical": all(g[1] == b[1] for g, b in pairs),
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


def wait_for_candidate(routes: Routes, candidate: str, timeout: float = 30.0) -> float:
    """Seconds until the gateway serves the canary's candidate to some key."""
    import httpx

    began = time.monotonic()
    with httpx.Client(timeout=10, headers=gateway_bench.HEADERS) as client:
        while time.monotonic() - began < timeout:
            for url in routes.urls["prompt"][:200]:
                if client.get(url).json().get("version") == candidate:
                    return time.monotonic() - began
            time.sleep(0.05)
    raise RuntimeError(f"the gateway did not serve the candidate {candidate} in {timeout:g} s")


def route_missing(base: str) -> str | None:
    """Why the gateway's prompt route cannot be measured, or None when it answers 200."""
    import httpx

    query = {f"var.{k}": v for k, v in VARS.items()}
    answer = httpx.get(
        f"{base}/v1/prompts/{PROMPT}", params=query, headers=gateway_bench.HEADERS, timeout=10
    )
    if answer.status_code == 200:
        return None
    return (
        f"GET /v1/prompts/{PROMPT} answered {answer.status_code} ({answer.text[:120]}): "
        "the gateway has no prompt route in this checkout, so the gateway figures are null"
    )


def _phase(gov, routes: Routes, requests: int) -> dict:
    """Sequential and concurrent spreads of the three routes, and the renders logged."""
    logged_before = renders_logged(gov)
    seq = routes.sequential(requests)
    conc = routes.concurrent(requests, CONCURRENT_CLIENTS)
    time.sleep(1.0)  # let the render log flush before counting
    return {
        "sequential": {r: spread(seq[r]) for r in ROUTES},
        f"concurrent_{CONCURRENT_CLIENTS}_clients": conc,
        "renders_logged": renders_logged(gov) - logged_before,
        "sequential_prompt_variants": dict(routes.variants),
    }


def _versus(phase: dict) -> dict:
    """The gateway's render against the bare render in one phase."""
    seq, conc = phase["sequential"], phase[f"concurrent_{CONCURRENT_CLIENTS}_clients"]
    ours, bare = seq["prompt"], seq["bare_prompt"]
    return {
        "gateway_p50_ms": ours["p50_ms"],
        "gateway_p99_ms": ours["p99_ms"],
        "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"],
        "overhead_p50_ms": rounded(ours["p50_ms"] - bare["p50_ms"]),
        "overhead_p99_ms": rounded(ours["p99_ms"] - bare["p99_ms"]),
        "p99_ratio": rounded(ours["p99_ms"] / bare["p99_ms"]),
        "rps_ratio": rounded(conc["prompt"]["rps"] / conc["bare_prompt"]["rps"]),
    }


def measure_gateway(gov, routes: Routes, requests: int, candidate: str) -> dict:
    """Gateway render against bare render, with no canary and then with a running one."""
    phases = {"answers_compared": same_answers(routes), "no_canary": _phase(gov, routes, requests)}
    rollout = start_canary(gov, candidate)
    pickup_s = wait_for_candidate(routes, candidate)
    phases["canary"] = _phase(gov, routes, requests) | {
        "canary_weight": rollout.weight,
        "canary_pickup_s": round(pickup_s, 2),
    }
    quiet, canary = _versus(phases["no_canary"]), _versus(phases["canary"])
    model = {p: phases[p]["sequential"]["model"] for p in ("no_canary", "canary")}
    return {
        "gateway_baseline": BASELINE,
        "gateway_prompt_p50_ms": quiet["gateway_p50_ms"],
        "gateway_prompt_p99_ms": quiet["gateway_p99_ms"],
        "bare_prompt_p50_ms": quiet["bare_p50_ms"],
        "bare_prompt_p99_ms": quiet["bare_p99_ms"],
        "gateway_prompt_overhead_p50_ms": quiet["overhead_p50_ms"],
        "gateway_prompt_overhead_p99_ms": quiet["overhead_p99_ms"],
        "gateway_ratio": quiet["p99_ratio"],
        "gateway_rps_ratio": quiet["rps_ratio"],
        "gateway_canary": canary,
        "context_model_route": {"what": CONTEXT, **model},
        "gateway_details": phases,
    }
