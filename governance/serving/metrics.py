"""Prometheus metrics of the gateway: requests, errors and latency per endpoint, version, variant.

With several uvicorn workers, `governance serve` sets PROMETHEUS_MULTIPROC_DIR before the
workers start; prometheus_client then keeps values in files there and `/metrics` merges
every worker's. A single process keeps them in memory.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LABELS = ("endpoint", "version", "variant")
# Sub-millisecond to seconds: a routed predict is about a millisecond, a cold one far more.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class GatewayMetrics:
    """The gateway's counters and histogram, in a registry of its own (one per app)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests", "Prediction requests answered", LABELS, registry=self.registry
        )
        self.errors = Counter(
            "gateway_errors",
            "Requests answered with an error status",
            (*LABELS, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Time from request to answer of prediction requests",
            LABELS,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.refused_specs = Counter(
            "gateway_routing_specs_refused",
            "Routing specs the gateway refused to serve because their seal did not cover them",
            ("endpoint",),
            registry=self.registry,
        )
        self.client_refusals = Counter(
            "gateway_client_refusals",
            "Predict, outcome and prompt requests refused for their client key, by reason"
            " (missing, malformed, wrong, revoked, not_genuine, route_scope, endpoint_scope)",
            ("reason",),
            registry=self.registry,
        )
        # 0 means requests without a client key are let through: loud on purpose.
        self.keys_required = Gauge(
            "gateway_client_keys_required",
            "1 when predict, outcome and prompt routes need a client key; 0 when they do not",
            registry=self.registry,
            multiprocess_mode="livemin",
        )

    def served(self, endpoint: str, version: str, variant: str, seconds: float) -> None:
        """Count one answered prediction request and its latency."""
        self.requests.labels(endpoint, version, variant).inc()
        self.latency.labels(endpoint, version, variant).observe(seconds)

    def failed(self, endpoint: str, version: str, variant: str, code: int) -> None:
        """Count one request answered with an error status."""
        self.errors.labels(endpoint, version, variant, str(code)).inc()

    def refused_spec(self, endpoint: str) -> None:
        """Count one routing spec refused for this endpoint."""
        self.refused_specs.labels(endpoint).inc()

    def refused_client(self, reason: str) -> None:
        """Count one request refused for its client key."""
        self.client_refusals.labels(reason).inc()

    def exposition(self) -> bytes:
        """The text format of every metric (merged across workers in multiprocess mode)."""
        if os.environ.get(MULTIPROCESS_ENV):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
