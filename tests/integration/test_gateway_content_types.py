"""JSON bodies are read as JSON whatever the client says they are: none (tritonclient) or a
form (`curl -d`), on every JSON route, over real HTTP; browsers and other types are refused."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import httpx
import pytest
from gatewaykit import ENDPOINT, REPO, client_headers, gateway_thread, logged, serve_churn, tensors
from promptkit import PROMPT, start_canary

from governance.store.tables_prompts import prompt_render_outcomes
from governance.store.tables_rollout import outcomes

ROW = {"age": 50, "income": 3, "tenure": 2}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def world(gov, register_churn, now):
    """churn-api serving churn 1.0.0 and a prompt canary logging renders: (client, app, url)."""
    serve_churn(gov, register_churn, now)
    start_canary(gov, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app, url


def render_id(client: httpx.Client) -> str:
    """A render the prompt canary logged (the canary is live after one poll)."""
    for attempt in range(200):
        found = client.get(f"/v1/prompts/{PROMPT}", params={"targeting_key": f"k{attempt}"})
        if found.json()["render_id"]:
            return found.json()["render_id"]
    raise AssertionError("the prompt canary logged no render in 200 requests")


def post(client: httpx.Client, path: str, body: dict, content_type: str | None):
    """POST the JSON text of `body` with exactly this Content-Type (or none at all)."""
    headers = {} if content_type is None else {"content-type": content_type}
    answer = client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert answer.request.headers.get("content-type") == content_type
    return answer


@pytest.mark.parametrize("content_type", [None, FORM])
def test_every_json_route_reads_a_body_sent_without_a_json_content_type(gov, world, content_type):
    client, app, _ = world
    body = {"inputs": tensors([ROW]), "parameters": {"targeting_key": "u1"}}
    infer = post(client, f"/v2/models/{ENDPOINT}/infer", body, content_type)
    assert infer.status_code == 200, infer.text
    assert infer.json()["model_version"] == "1.0.0"
    predict = post(client, f"/v1/endpoints/{ENDPOINT}/predict", {"rows": [ROW]}, content_type)
    assert predict.status_code == 200, predict.text
    [prediction] = predict.json()["predictions"]
    outcome = {"prediction_id": prediction["prediction_id"], "label": 1}
    recorded = post(client, "/v1/outcomes", outcome, content_type)
    assert recorded.json() == {
        "prediction_id": prediction["prediction_id"],
        "recorded": True,
        "already_recorded": False,
    }
    rid = render_id(client)
    rendered = post(
        client, "/v1/prompts/outcomes", {"render_id": rid, "success": True}, content_type
    )
    assert rendered.json() == {"render_id": rid, "recorded": True}
    assert app.state.gateway.log.wait_flushed()
    assert {r["id"] for r in logged(gov)} == {
        infer.json()["parameters"]["prediction_id"],
        prediction["prediction_id"],
    }
    with gov.engine.connect() as conn:
        [row] = conn.execute(outcomes.select()).all()
    assert (row.prediction_id, row.label) == (prediction["prediction_id"], 1)


def readme_curl() -> tuple[str, str]:
    """The README's `curl -X POST … -d '{…}'` example for prompt outcomes: (path, body)."""
    text = (REPO / "README.md").read_text()
    found = re.search(
        r"curl -X POST http://127\.0\.0\.1:8000(/v1/prompts/outcomes) \\\n"
        r"\s+-H \"Authorization: Bearer \$CLIENT_KEY\" \\\n\s+-d '(\{[^']*\})'",
        text,
    )
    assert found, "the README no longer shows the curl example for prompt outcomes"
    return found[1], found[2]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_curl_example_records_an_outcome(gov, world):
    client, _, url = world
    path, body = readme_curl()
    rid = render_id(client)
    sent = body.replace('"..."', json.dumps(rid))
    auth = f"Authorization: {client.headers['authorization']}"
    done = subprocess.run(
        ["curl", "-sS", "-v", "-X", "POST", url + path, "-H", auth, "-d", sent],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    # curl -d says the body is a form; the gateway reads it as the JSON it is.
    assert f"Content-Type: {FORM}" in done.stderr
    assert json.loads(done.stdout) == {"render_id": rid, "recorded": True}
    with gov.engine.connect() as conn:
        query = prompt_render_outcomes.select().where(prompt_render_outcomes.c.render_id == rid)
        stored = conn.execute(query).one()
    assert (stored.success, stored.latency_ms) == (True, 850.0)


def test_a_browser_form_and_a_non_json_type_are_refused_and_change_nothing(gov, world):
    client, app, _ = world
    predict = f"/v1/endpoints/{ENDPOINT}/predict"
    body = {"rows": [ROW]}
    origin = "http://evil.example"
    for content_type in (FORM, None):
        headers = {"origin": origin} | (
            {} if content_type is None else {"content-type": content_type}
        )
        refused = client.post(predict, content=json.dumps(body).encode(), headers=headers)
        assert (refused.status_code, refused.json()) == (
            400,
            {
                "error": f"a browser request (Origin {origin!r}) must send its body with "
                "Content-Type: application/json"
            },
        )
    text = post(client, predict, body, "text/plain")
    assert (text.status_code, text.json()) == (
        400,
        {
            "error": "Content-Type 'text/plain' is not supported: send the body as JSON "
            "(application/json, or no Content-Type)"
        },
    )
    # With a JSON Content-Type a browser's request is an ordinary one (CORS guards it).
    fine = client.post(predict, json=body, headers={"origin": origin})
    assert fine.status_code == 200, fine.text
    assert app.state.gateway.log.wait_flushed()
    assert [r["id"] for r in logged(gov)] == [fine.json()["predictions"][0]["prediction_id"]]
