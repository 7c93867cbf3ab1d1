"""Predict runs off the event loop: while one is in flight, the gateway still answers others."""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest
import skops.io as sio
from gatewaykit import ENDPOINT, SLOW_TYPE, SlowClassifier, client_headers, gateway_thread, logged
from seeding import seed_stage

from governance.bootstrap import open_governance
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import endpoints

ROW = {"f0": 1.0, "f1": 2.0, "f2": 3.0}
REQUESTS = {
    "oip": (
        f"/v2/models/{ENDPOINT}/infer",
        {
            "inputs": [
                {"name": f, "shape": [1], "datatype": "FP64", "data": [v]} for f, v in ROW.items()
            ]
        },
    ),
    "plain": (f"/v1/endpoints/{ENDPOINT}/predict", {"rows": [ROW]}),
}


@pytest.fixture
def slow_settings(gov, churn_model, example_card, now):
    """Settings trusting SlowClassifier, and endpoint churn-api serving it as churn 1.0.0."""
    settings = gov.settings.model_copy(update={"trusted_types": [SLOW_TYPE]})
    trusting = open_governance(settings)
    try:
        blob = sio.dumps(SlowClassifier().fit(np.zeros((4, 3)), np.array([0, 1, 0, 1])))
        spec = VersionSpec(name="churn", version="1.0.0", created_by="alice")
        versions.register_version(
            trusting, spec, example_card, artifact=blob, now=now, new_model=churn_model
        )
        seed_stage(trusting, "churn", "1.0.0", LifecycleStage.staging, now=now)
        seed_stage(trusting, "churn", "1.0.0", LifecycleStage.production, now=now)
        endpoints.create(
            trusting,
            ENDPOINT,
            model="churn",
            actor=VerifiedActor(name="carol", method="totp"),
            now=now,
        )
    finally:
        trusting.close()
    SlowClassifier.entered.clear()
    SlowClassifier.release.clear()
    yield settings
    SlowClassifier.release.set()  # never leave a predict waiting


@pytest.mark.parametrize("route", sorted(REQUESTS))
def test_health_and_routing_answer_while_a_predict_is_in_flight(gov, slow_settings, route):
    path, body = REQUESTS[route]
    headers = client_headers(gov)
    with gateway_thread(slow_settings) as (url, app):
        answers: dict[str, httpx.Response] = {}
        caller = threading.Thread(
            target=lambda: answers.update(
                slow=httpx.post(url + path, json=body, headers=headers, timeout=90)
            )
        )
        caller.start()
        try:
            assert SlowClassifier.entered.wait(30), "the slow predict never began"
            # Were predict on the event loop, these would wait for it: it waits for us.
            live = httpx.get(f"{url}/v2/health/live", timeout=10)
            routing = httpx.get(f"{url}/v1/endpoints/{ENDPOINT}", timeout=10)
            still_in_flight = caller.is_alive() and "slow" not in answers
        finally:
            SlowClassifier.release.set()
            caller.join(60)
        assert live.json() == {"live": True}
        assert routing.json()["production_version"] == "1.0.0"
        assert still_in_flight, "the slow request had already answered: nothing was tested"
        slow = answers["slow"]
        assert slow.status_code == 200, slow.text
        outputs = (
            slow.json()["outputs"][0]["data"]
            if route == "oip"
            else [p["output"] for p in slow.json()["predictions"]]
        )
        assert outputs == [0]
        assert app.state.gateway.log.wait_flushed()
    [record] = logged(gov)
    assert (record["version"], record["status"], record["features"]) == ("1.0.0", "ok", ROW)
