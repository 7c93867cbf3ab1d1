"""What one prediction request does: route once, predict, log; and recording outcomes.

The HTTP layer (app.py) only translates wire formats; the decisions live here.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from governance.bootstrap import Governance
from governance.domain.clients import ALL_ENDPOINTS
from governance.domain.errors import InvalidInput
from governance.domain.rollout import (
    Decision,
    Endpoint,
    NoRoute,
    Reason,
    SpecVersion,
    bucket,
    route,
)
from governance.ml.labels import label_problem
from governance.services.rollout.gateway_credentials import credential_problem, smoke_scope
from governance.services.rollout.spec_seals import seal_problem
from governance.serving.client_auth import Client, ClientGuard, ClientKeyCache
from governance.serving.errors import CredentialRefused, ModelFailed, UnknownPrediction
from governance.serving.key_purposes import GATEWAY_PURPOSES
from governance.serving.metrics import GatewayMetrics
from governance.serving.model_cache import LoadedModel, ModelCache
from governance.serving.oip import Batch, OutcomeRequest, plain
from governance.serving.outcomes import check_same_outcome
from governance.serving.prediction_log import PredictionLog
from governance.serving.prediction_rows import read_rows, write_rows
from governance.serving.routing_cache import LiveRoute, RoutingCache
from governance.serving.served_versions import check_served
from governance.store.predictions import PredictionRepository
from governance.store.unit_of_work import Transaction

SLOTS = ("blue", "green")
# Who a blue/green smoke request is attributed to: it carries the smoke test's credential,
# made with the secret key, in place of a client key.
SMOKE_CLIENT = "governance:smoke-test"


def utc_now() -> datetime:
    """The gateway is an entrypoint: it reads the clock for the log's timestamps."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Assignment:
    """One request's routing: the live route, the decision and the key it was made with."""

    route: LiveRoute
    decision: Decision
    targeting_key: str
    key_generated: bool
    # The client application the request came from (None: keys off and none was sent).
    client: str | None = None

    def describe(self) -> dict[str, Any]:
        """The routing facts every answer carries."""
        return {
            "version": self.decision.version,
            "variant": self.decision.variant,
            "routing_reason": self.decision.reason.value,
            "bucket": self.decision.bucket,
            "spec": self.route.spec.number,
            "targeting_key": self.targeting_key,
            "targeting_key_generated": self.key_generated,
        }


@dataclass(frozen=True)
class Served:
    """The predictions of one request and the ids they were logged under."""

    ids: list[str]
    outputs: np.ndarray


class Gateway:
    """The routing cache, model cache, prediction log and metrics of one gateway process."""

    def __init__(self, gov: Governance, clock: Callable[[], datetime] = utc_now) -> None:
        self.gov = gov
        self.clock = clock
        self.models = ModelCache(gov)
        self.metrics = GatewayMetrics()
        self.routing = RoutingCache(
            gov.store,
            gov.settings.gateway_poll_seconds,
            prepare=self._prepare,
            check=self._check_spec,
            on_refused=self.metrics.refused_spec,
        )
        self.log = PredictionLog(gov.engine, gov.settings.resolved_gateway_spool_dir)
        settings = gov.settings
        self.keys = ClientKeyCache(gov.store, gov.keyring, settings.gateway_key_poll_seconds)
        self.clients = ClientGuard(
            self.keys, settings.gateway_require_keys, self.metrics.refused_client
        )

    def start(self) -> None:
        """Load the routing (and its models) and the client keys once, then poll and write.

        The secret key file is read first: without it no spec's seal can be checked. It may
        be the master key or a purpose key file holding GATEWAY_PURPOSES.
        """
        # ConfigError naming the file when it is missing, or the purpose it lacks.
        self.gov.keyring.require(GATEWAY_PURPOSES)
        self.clients.announce(self.metrics.keys_required)
        self.routing.refresh()
        self.keys.refresh()
        self.routing.start()
        self.keys.start()
        self.log.start()

    def stop(self) -> None:
        """Stop polling; flush the prediction log."""
        self.routing.stop()
        self.keys.stop()
        self.log.stop()

    def _check_spec(self, tx: Transaction, endpoint: Endpoint, spec: SpecVersion) -> str:
        return seal_problem(tx, self.gov.keyring, endpoint.model_name, spec)

    def _prepare(self, live: LiveRoute) -> None:
        for version in live.spec.spec.versions():
            self.models.get(live.endpoint.model_name, version)

    # --- one request ----------------------------------------------------------------------

    def assign(
        self,
        endpoint: str,
        key: str | None,
        attributes: dict[str, Any] | None,
        slot: str | None = None,
        credential: str | None = None,
        client: str | None = None,
    ) -> Assignment:
        """The one routing decision of a request (a fresh random key when none is given).

        Naming a slot bypasses routing, so it needs the smoke test's credential
        (CredentialRefused otherwise): only the smoke test may reach a candidate before it.
        """
        if slot is not None:
            self.require(smoke_scope(endpoint, str(slot)), credential, f"naming slot {slot!r}")
        live = self.routing.get(endpoint)
        generated = not key
        key = key or uuid.uuid4().hex
        attrs = {str(k): str(v) for k, v in (attributes or {}).items()}
        seed, spec = live.endpoint.seed, live.spec.spec
        if slot is None:
            decision = route(endpoint, seed, spec, key, attrs)
        elif slot not in SLOTS:
            raise InvalidInput(f"unknown slot {slot!r}: use blue or green")
        else:
            held = spec.slots.get(slot)  # type: ignore[call-overload]
            if held is None:
                raise NoRoute(f"endpoint {endpoint!r} has no version in the {slot} slot")
            decision = Decision(held, f"slot:{slot}", bucket(seed, key), Reason.static)
        return Assignment(live, decision, key, generated, client)

    def require(self, scope: str, credential: str | None, what: str) -> None:
        """Nothing if `credential` opens `scope` now; CredentialRefused saying why otherwise."""
        problem = credential_problem(self.gov.keyring, scope, credential, self.clock())
        if problem:
            raise CredentialRefused(
                f"a request {what} needs a credential only the smoke test and governance"
                f" infrastructure hold: {problem}"
            )

    def pin(
        self, endpoint: str, version: str, key: str | None, client: str | None = None
    ) -> Assignment:
        """A versioned request's assignment: `version` itself, if the live routing serves it.

        Logged with variant `pinned:VERSION` (a colon, so no A/B arm or canary analysis
        counts it) and the key's endpoint bucket, as a blue/green slot request is.
        """
        live = self.routing.get(endpoint)
        check_served(endpoint, version, live.spec.spec)
        generated = not key
        key = key or uuid.uuid4().hex
        decision = Decision(
            version, f"pinned:{version}", bucket(live.endpoint.seed, key), Reason.static
        )
        return Assignment(live, decision, key, generated, client)

    def model_for(self, assignment: Assignment) -> LoadedModel:
        """The loaded model of the assigned version (loaded now if the poll has not yet)."""
        return self.models.get(assignment.route.endpoint.model_name, assignment.decision.version)

    def serve(
        self, assignment: Assignment, decode: Callable[[tuple[str, ...]], Batch], started: float
    ) -> Served:
        """Load, decode the input for the model's features, predict and log: all that blocks.

        The HTTP layer runs this in a worker thread, so the event loop keeps answering.
        """
        model = self.model_for(assignment)
        return self.predict(assignment, model, decode(model.features), started)

    def predict(
        self, assignment: Assignment, model: LoadedModel, batch: Batch, started: float
    ) -> Served:
        """Predict, then hand one record per row to the log (status error if the model raised)."""
        ids = [str(uuid.uuid4()) for _ in batch.rows]
        try:
            outputs = model.predict(batch.matrix)
            failure = None
        except Exception as exc:  # the input passed every check: this is the model's failure
            outputs, failure = None, exc
        latency_ms = (time.perf_counter() - started) * 1000
        values = [None] * len(ids) if outputs is None else plain(outputs)
        decision, now = assignment.decision, self.clock()
        self.log.submit(
            {
                "id": pid,
                "endpoint": assignment.route.endpoint.name,
                "version": decision.version,
                "variant": decision.variant,
                "bucket": decision.bucket,
                "features": row,
                "output": value,
                "latency_ms": latency_ms,
                "status": "ok" if failure is None else "error",
                "created_at": now,
                "client": assignment.client,
            }
            for pid, row, value in zip(ids, batch.rows, values, strict=True)
        )
        if failure is not None:
            raise ModelFailed(
                f"model {model.model}@{model.version} failed: {type(failure).__name__}: {failure}"
            )
        return Served(ids, outputs)

    # --- outcomes -------------------------------------------------------------------------

    def record_outcome(self, outcome: OutcomeRequest, client: Client | None = None) -> bool:
        """Store the outcome of a logged (or still buffered) prediction, once, as `client`'s.

        True when this call recorded it; False when the same outcome was recorded before
        (a client's retry). A different outcome for the same prediction is OutcomeConflict:
        the first one recorded stands. A client whose key is not scoped to the prediction's
        endpoint is refused (ClientOutOfScope) before anything is read of its outcome.
        """
        bad = [name for name, value in outcome.metrics.items() if not math.isfinite(value)]
        if bad:
            raise InvalidInput(f"outcome metric(s) {bad} must be finite numbers")
        pid = outcome.prediction_id
        if not self._known(pid):
            # Another worker may hold it in its buffer: wait out one flush, then look again.
            time.sleep(2 * self.log.flush_seconds)
            if not self._known(pid):
                raise UnknownPrediction(f"unknown prediction id {pid!r}: no such prediction")
        if client is not None and ALL_ENDPOINTS not in client.endpoints:
            self.clients.require_scope(client, "outcomes", self._endpoint_of(pid))
        self._check_label(pid, outcome.label)
        now, app = self.clock(), None if client is None else client.app
        try:
            earlier = self._write(
                lambda repo: repo.record_first_outcome(
                    pid, outcome.label, outcome.metrics, now, client=app
                )
            )
        except IntegrityError:  # a concurrent post of the same prediction inserted first
            earlier = self._read(lambda repo: repo.outcome_of(pid))
        if earlier is None:
            return True
        check_same_outcome(pid, earlier, outcome)
        return False

    def _check_label(self, pid: str, label: Any) -> None:
        """Refuse a label the predicting model cannot have (accuracy would count it wrong)."""
        if label is None:
            return
        pending = self.log.pending_source(pid)
        if pending is not None:  # still in this worker's buffer
            made_by = (self.routing.get(pending[0]).endpoint.model_name, pending[1])
        else:
            made_by = self._read(lambda repo: repo.made_by(pid))
        if made_by is None:
            return
        estimator = self.models.get(*made_by).estimator
        problem = label_problem(getattr(estimator, "classes_", None), label)
        if problem:
            raise InvalidInput(f"label {label!r} of prediction {pid} {problem}")

    def _endpoint_of(self, pid: str) -> str | None:
        """The endpoint that made a known prediction."""
        pending = self.log.pending_source(pid)
        if pending is not None:
            return pending[0]
        return self._read(lambda repo: repo.endpoint_of(pid))

    def _known(self, pid: str) -> bool:
        return self.log.is_pending(pid) or self._read(lambda repo: repo.exists(pid))

    def _read(self, work: Callable[[PredictionRepository], Any]) -> Any:
        return read_rows(self.gov.engine, work)

    def _write(self, work: Callable[[PredictionRepository], Any]) -> Any:
        return write_rows(self.gov.engine, work)
