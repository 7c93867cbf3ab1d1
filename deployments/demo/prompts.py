"""Chapter 6: prompts: versioned templates, the prompt gate, approvals, a canary, a rollback.

The LLM provider is the chat stub: an OpenAI-compatible server on 127.0.0.1 whose replies
are deterministic per prompt. A template that asks for "the escalation contact" makes it
leak an email address in its answer to a refund question, as a careless prompt would.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
import yaml

from deployments.chat_stub import start_stub
from deployments.demo.promotion import RUN_ID, approve, finished, suspended
from deployments.demo.stage import WORK, Authenticators, client_key, governance, step
from governance.client.prompts import PromptClient

PROMPT = "support"
SUITE = "support-golden"
APPROVERS = [("carol", "ml_lead"), ("dave", "risk_officer")]
BASE = "You are the support assistant for {{ product }}. Answer in two sentences.\n"
TEMPLATES = {
    "1.0.0": BASE,
    "1.0.1": BASE + "When a customer is unhappy, give them the escalation contact.\n",
    "1.0.2": BASE + "When a customer is unhappy, offer to open a ticket.\n",
}
RULES = [
    {"when": "(?s)escalation contact.*refund", "reply": "Refunds take 30 days; write to "
     "escalations@acme-support.example for faster help."},
    {"when": "refund", "reply": "You can get a refund within 30 days of purchase."},
    {"when": "broken", "reply": "Please restart the router, then check the cables."},
    {"when": "(?i)hello", "reply": "Hello! How can I help you today?"},
]  # fmt: skip
CASES = [
    {"description": "refund", "vars": {"product": "Router"}, "input": "How do I get a refund?",
     "assert": [{"type": "icontains", "value": "refund"},
                {"type": "not-icontains", "value": "sorry"}]},
    {"description": "broken device", "vars": {"product": "Router"},
     "input": "My router is broken", "assert": [{"type": "contains-any",
                                                  "value": ["restart", "reboot"]}]},
    {"description": "greeting", "vars": {"product": "Router"}, "input": "hello",
     "assert": [{"type": "starts-with", "value": "Hello"},
                {"type": "latency", "threshold": 3000}]},
]  # fmt: skip


class PromptTraffic(threading.Thread):
    """Client applications fetching the prompt through the gateway and reporting outcomes."""

    def __init__(self, gateway: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url = gateway.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stop = threading.Event()
        self.variants: dict[str, int] = {}

    def run(self) -> None:
        """Fetch, 'use' and report, about 50 a second, until stopped (bounded by 20,000)."""
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as client:
            for n in range(20_000):
                if self.stop.is_set():
                    return
                reply = client.get(
                    f"/v1/prompts/{PROMPT}",
                    params={"targeting_key": f"user-{n % 3000}", "var.product": "Router"},
                )
                if reply.status_code == 200 and (body := reply.json())["render_id"]:
                    variant = f"{body['version']} ({body['variant']})"
                    self.variants[variant] = self.variants.get(variant, 0) + 1
                    outcome = {"render_id": body["render_id"], "success": True, "latency_ms": 90}
                    client.post("/v1/prompts/outcomes", json=outcome)
                time.sleep(0.02)


def _files() -> dict[str, str]:
    """The template files and the golden suite, written to the demo's work directory."""
    paths = {}
    for version, text in TEMPLATES.items():
        path = WORK / f"support-{version}.j2"
        path.write_text(text)
        paths[version] = str(path)
    suite = WORK / "support-suite.yaml"
    suite.write_text(yaml.safe_dump({"description": "support answers", "cases": CASES}))
    paths["suite"] = str(suite)
    return paths


def _promote(people: Authenticators, version: str, target_url: str, *extra: str) -> str:
    """`governance prompts promote` as alice; approvers decide if it reaches them."""
    people.login("alice")
    out = governance(
        "prompts", "promote", f"{PROMPT}@{version}", "--suite", SUITE,
        "--base-url", target_url, "--model", "support-llm", "--no-wait", *extra,
    )  # fmt: skip
    run_id = RUN_ID.search(out).group(1)
    if version == "1.0.1":
        return finished(run_id)
    key = None
    for who, role in APPROVERS:
        key = suspended(run_id, key)
        approve(people, run_id, who, role)
    return finished(run_id, timeout=180)


def chapter(people: Authenticators, gateway: str) -> None:
    """Register, gate, approve, canary, roll back, and ask what served when."""
    paths = _files()
    stub = start_stub(rules=RULES)
    try:
        _story(people, gateway, stub.base_url, paths)
    finally:
        stub.stop()


def _story(people: Authenticators, gateway: str, llm: str, paths: dict[str, str]) -> None:
    step("30. alice registers two versions of the support prompt and a golden suite")
    people.login("alice")
    for version in ("1.0.0", "1.0.1"):
        governance("prompts", "register", PROMPT, "--template", paths[version],
                   "--variables", "product")  # fmt: skip
        governance("prompts", "submit", f"{PROMPT}@{version}")
    governance("prompts", "diff", PROMPT, "1.0.0", "1.0.1")
    governance("prompts", "suites", "register", SUITE, paths["suite"])
    print(f"(the LLM provider is the chat stub at {llm}, OpenAI-compatible)")

    step("31. 1.0.0 passes the prompt gate and goes to production with two approvals")
    if _promote(people, "1.0.0", llm) != "Promoted":
        raise SystemExit("demo: support@1.0.0 was not promoted")
    first_live = datetime.now(UTC)
    governance("prompts", "render", f"{PROMPT}@production", "--var", "product=Router")

    step("32. 1.0.1 leaks an email address on the refund case: it stops at the gate")
    if _promote(people, "1.0.1", llm) != "GateFailed":
        raise SystemExit("demo: support@1.0.1 should have failed the prompt gate")
    governance("prompts", "show", f"{PROMPT}@1.0.1")

    step("33. 1.0.2 fixes it and goes out by canary: the gateway serves it to a sticky share")
    governance("prompts", "register", PROMPT, "--template", paths["1.0.2"])
    governance("prompts", "submit", f"{PROMPT}@1.0.2")
    time.sleep(2)  # `prompts at` in step 35 asks about a moment between two moves
    middle = datetime.now(UTC)
    time.sleep(2)
    key = client_key(people, "support-app", "--route", "prompts")
    traffic = PromptTraffic(gateway, key)
    traffic.start()
    try:
        state = _promote(people, "1.0.2", llm, "--strategy", "canary")
    finally:
        traffic.stop.set()
        traffic.join(timeout=10)
    print(f"renders by version and variant during the canary: {traffic.variants}")
    if state != "Promoted":
        raise SystemExit(f"demo: the canary of support@1.0.2 ended {state}")
    _client_view(gateway, key)

    step("34. carol (ml_lead) rolls the pointer back to 1.0.0")
    people.login("carol")
    governance("prompts", "rollback", PROMPT, "--to", "1.0.0", "--reason", "tone complaints")
    governance("prompts", "history", PROMPT)

    step("35. which support prompt served users between the first promotion and the canary?")
    if not first_live < middle:
        raise SystemExit(f"demo: the middle time {middle} is not after the first promotion")
    governance("prompts", "at", PROMPT, "--time", middle.isoformat())


def _client_view(gateway: str, key: str) -> None:
    """What an application sees through the client library: cache, then fallback."""
    with PromptClient(gateway, cache_ttl_seconds=60, api_key=key) as client:
        fetched = client.get_prompt(PROMPT, targeting_key="user-42", variables={"product": "Hub"})
        again = client.get_prompt(PROMPT, targeting_key="user-42", variables={"product": "Hub"})
        print(f"client: {fetched.version} ({fetched.source}), then ({again.source})")
    with PromptClient("http://127.0.0.1:9", timeout_s=0.5) as offline:
        fallback = offline.get_prompt(PROMPT, fallback="You are a helpful support assistant.")
        print(f"client with the gateway unreachable: {fallback.source}: {fallback.template!r}")
