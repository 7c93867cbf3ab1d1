"""The web console's server render time at scale, against the JSON API for the same data.

    .venv/bin/python bench/console.py                 # ~5 min: setup ~2 min, then the series
    .venv/bin/python bench/console.py --samples 100   # fewer timed requests per route

Setup (never timed): a temporary governance home on a durable SQLite file (the store's own
engine and pragmas); 1,000 models of 10 versions each and 1,000,000 audit events, written
straight into the tables by bench/_audit_trail.py (chained and MACed as `AuditLog.append`
writes them, with the state rows they imply: cards, approval requests and decisions,
aliases); one signed checkpoint in the anchor directory; heidi (auditor), frank (ml_lead
and risk_officer) and dave enrolled; then `governance server run` (one worker) on a free
127.0.0.1 port. heidi and frank log in through the console's own login form (cookie), dave
through `POST /v1/sessions` (bearer token).

Each timed route is one function returning the path of its i-th request (`ROUTES`), so a
page another branch adds is one more entry. A route whose page is not on this branch (404
on its probe) is reported as not timed, with the reason, and gives no figure. Each series
is sequential on one persistent client (keep-alive), after a warm-up, and measures the
whole request on 127.0.0.1: the figure is an upper bound on the server's render time.

Keys: `<route>_p50_ms`, `<route>_p95_ms` for models_list, version_page, inbox, audit_page
and api_models_list; `ratios` (each console p95 over the API's); `targets` and
`targets_met` (p95 < 100 ms for the models list, a version page and the inbox, < 200 ms for
an audit page); `routes` (per route: timed or why not, the paths' shape, samples, p99, max);
`audit_variants` (the audit page's p95 per kind of page: newest, deep keyset pages with and
without a filter, newer-direction pages, a time window far back, alone and with a model);
`config`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _console_setup import api_client, console_client, env_of, prepare
from _http_bench import Server, free_port, summary_ms

REPO = Path(__file__).resolve().parent.parent
GOVERNANCE = Path(sys.executable).parent / "governance"
MODELS, VERSIONS_PER_MODEL, EVENTS = 1_000, 10, 1_000_000
WARMUP = 20
TARGETS_MS = {
    "models_list": 100.0,
    "version_page": 100.0,
    "inbox": 100.0,
    "audit_page": 200.0,
}


@dataclass
class Scale:
    """What the data holds, for the path functions to pick from."""

    models: int
    versions_per_model: int
    events: int
    rng: random.Random = field(default_factory=lambda: random.Random(19))


def models_list(scale: Scale, i: int) -> list[str]:
    """The models list, unfiltered (candidate paths, the first one that answers is timed)."""
    return ["/models"]


def version_page(scale: Scale, i: int) -> list[str]:
    """A random version's page."""
    model = f"model-{scale.rng.randrange(scale.models)}"
    version = f"1.{scale.rng.randrange(scale.versions_per_model)}.0"
    return [f"/models/{model}/versions/{version}", f"/models/{model}/{version}"]


def inbox(scale: Scale, i: int) -> list[str]:
    """The approvals inbox of an approver (frank: ml_lead and risk_officer)."""
    return ["/inbox"]


AUDIT_KINDS = ("newest", "deep", "deep_model", "deep_actor", "deep_type", "newer")


def audit_path(scale: Scale, kind: str) -> str:
    """One audit page of a kind, at a random depth of the trail."""
    rng, seq = scale.rng, scale.rng.randrange(60, scale.events)
    if kind == "newest":
        return "/audit"
    if kind == "deep":
        return f"/audit?before={seq}"
    if kind == "deep_model":
        return f"/audit?model=model-{rng.randrange(scale.models)}&before={seq}"
    if kind == "deep_actor":
        return f"/audit?actor=bob&before={seq}"
    if kind == "deep_type":
        return f"/audit?type=approval.decided&before={seq}"
    return f"/audit?after={seq}"


def audit_page(scale: Scale, i: int) -> list[str]:
    """The audit browser at any offset: the kinds in turn, each at a random cursor."""
    return [audit_path(scale, AUDIT_KINDS[i % len(AUDIT_KINDS)])]


def api_models_list(scale: Scale, i: int) -> list[str]:
    """The baseline: the JSON API's list of the same models' versions."""
    return ["/v1/models"]


# route -> (path function, whose client). Add a page here when its branch lands.
ROUTES: dict[str, tuple[Callable[[Scale, int], list[str]], str]] = {
    "models_list": (models_list, "frank"),
    "version_page": (version_page, "frank"),
    "inbox": (inbox, "frank"),
    "audit_page": (audit_page, "heidi"),
    "api_models_list": (api_models_list, "api"),
}


def _probe(client: httpx.Client, candidates: list[str]) -> int | None:
    """Which candidate path answers 200 (its index), or None."""
    for index, path in enumerate(candidates):
        if client.get(path).status_code == 200:
            return index
    return None


def time_route(client, paths, scale: Scale, samples: int) -> dict:
    """Sequential timed GETs of the route's paths (after a warm-up); or why it was not timed."""
    choice = _probe(client, paths(scale, 0))
    if choice is None:
        return {"timed": False, "why": f"no page at {' or '.join(paths(scale, 0))} (404)"}
    for i in range(WARMUP):
        client.get(paths(scale, i)[choice])
    series, shape = [], paths(scale, 0)[choice]
    for i in range(samples):
        path = paths(scale, i)[choice]
        begin = time.perf_counter_ns()
        answer = client.get(path)
        elapsed = (time.perf_counter_ns() - begin) / 1e6
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        series.append(elapsed)
    return {"timed": True, "shape": shape, "bytes": len(answer.content), **summary_ms(series)}


def audit_variants(client: httpx.Client, scale: Scale, samples: int) -> dict:
    """The audit page's p95 per kind, and a one-day time window (a residual filter)."""
    found = {}
    for kind in AUDIT_KINDS:
        series = []
        for _ in range(max(20, samples // 4)):
            path = audit_path(scale, kind)
            begin = time.perf_counter_ns()
            client.get(path).raise_for_status()
            series.append((time.perf_counter_ns() - begin) / 1e6)
        found[kind] = summary_ms(series)
    # The bulk-loaded trail's times start at 2026-11-23 12:00, one event a millisecond: a
    # minute five minutes in is 60,000 events about 300,000 deep, far from the newest.
    windows = {
        "time_window_far": "/audit?since=2026-11-23T12:05&until=2026-11-23T12:06",
        "time_window_far_model": (
            "/audit?model=model-7&since=2026-11-23T12:05&until=2026-11-23T12:06"
        ),
    }
    for name, window in windows.items():
        series = []
        for _ in range(max(10, samples // 10)):
            begin = time.perf_counter_ns()
            client.get(window).raise_for_status()
            series.append((time.perf_counter_ns() - begin) / 1e6)
        found[name] = summary_ms(series) | {"path": window}
    return found


def report(results: dict, variants: dict, config: dict) -> dict:
    """The JSON the run prints."""
    out: dict = {}
    for route, found in results.items():
        if found.get("timed"):
            out[f"{route}_p50_ms"] = round(found["p50_ms"], 3)
            out[f"{route}_p95_ms"] = round(found["p95_ms"], 3)
    api = out.get("api_models_list_p95_ms")
    out["ratios"] = {
        f"{route}_p95_over_api_models_list_p95": round(out[f"{route}_p95_ms"] / api, 3)
        for route in TARGETS_MS
        if api and f"{route}_p95_ms" in out
    }
    out["targets"] = {f"{route}_p95_ms": f"< {limit:g}" for route, limit in TARGETS_MS.items()}
    out["targets_met"] = {
        route: out[f"{route}_p95_ms"] < limit
        for route, limit in TARGETS_MS.items()
        if f"{route}_p95_ms" in out
    }
    out["timed_routes"] = [route for route, found in results.items() if found.get("timed")]
    out["routes"] = results
    out["audit_variants"] = variants
    out["config"] = config
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="timed requests per route")
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--versions-per-model", type=int, default=VERSIONS_PER_MODEL)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Set up, serve, time each route, print one JSON object."""
    args = parse_args(argv)
    scale = Scale(args.models, args.versions_per_model, args.events)
    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    load_start = os.getloadavg()
    try:
        settings, secrets, setup = prepare(
            work / "home", scale.models, scale.versions_per_model, scale.events
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(GOVERNANCE), "server", "run", "--host", "127.0.0.1", "--port", str(port)]
        with Server(command, env_of(settings), work, work / "server.log") as server:
            server.wait_ready(f"{url}/v1/health")
            clients = {
                "heidi": console_client(url, "heidi", secrets["heidi"]),
                "frank": console_client(url, "frank", secrets["frank"]),
                "api": api_client(url, "dave", secrets["dave"]),
            }
            results = {
                route: time_route(clients[who], paths, scale, args.samples)
                for route, (paths, who) in ROUTES.items()
            }
            variants = audit_variants(clients["heidi"], scale, args.samples)
            for client in clients.values():
                client.close()
        config = {
            "models": scale.models,
            "versions_per_model": scale.versions_per_model,
            "events": scale.events,
            "samples": args.samples,
            "warmup": WARMUP,
            "database": "SQLite (WAL, synchronous=FULL), one server worker",
            "cpus": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            **setup,
        }
        print(json.dumps(report(results, variants, config), indent=2))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
