"""`governance serve --workers 2`: both workers answer, /metrics merges them, shutdown flushes."""

from __future__ import annotations

import httpx
import pytest
from gatewaykit import ENDPOINT, client_headers, gateway_process, logged, serve_churn

ROW = {"age": 50, "income": 3, "tenure": 2}


@pytest.mark.sqlite_only
def test_two_workers_count_into_one_metrics_page_and_flush_on_shutdown(gov, register_churn, now):
    serve_churn(gov, register_churn, now)
    answered, headers = [], client_headers(gov)
    with gateway_process(gov.settings, workers=2) as (url, _):
        for i in range(20):
            # A new connection each time, so the kernel spreads them over both workers.
            answer = httpx.post(
                f"{url}/v1/endpoints/{ENDPOINT}/predict",
                json={"rows": [ROW], "targeting_key": f"k{i}"},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            answered.append(answer.json()["predictions"][0]["prediction_id"])
        text = httpx.get(f"{url}/metrics").text
        labels = f'endpoint="{ENDPOINT}",variant="stable",version="1.0.0"'
        assert f"gateway_requests_total{{{labels}}} 20.0" in text
    # Stopped with SIGINT: each worker's writer flushed its buffer before exiting.
    assert sorted(r["id"] for r in logged(gov)) == sorted(answered)
