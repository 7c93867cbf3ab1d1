"""Prompt targets over real HTTP: the chat stub on 127.0.0.1, and Python callables."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import llmkit
import pytest
from llmkit import chat_target

from deployments.chat_stub import start_stub
from governance.domain.errors import TargetError
from governance.llm.targets import TargetConfig, complete_all, target_from_llm_config

# The chat stub fixtures, bound here so that pytest finds them for this module's tests.
chat_stub, stub = llmkit.chat_stub, llmkit.stub
SYSTEM = {"role": "system", "content": "You are a support bot."}


def ask(text: str) -> list[dict[str, str]]:
    """A two-message conversation ending in `text`."""
    return [SYSTEM, {"role": "user", "content": text}]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_reply_carries_usage_and_its_cost(stub):
    target = chat_target(stub, price_per_1k_prompt=0.5, price_per_1k_completion=2.0)
    [done] = complete_all(target, [ask("where is my parcel")])
    assert done.error is None
    assert done.text == "I can help with: where is my parcel"
    assert (done.prompt_tokens, done.completion_tokens) == (9, 8)
    assert done.cost == pytest.approx((9 * 0.5 + 8 * 2.0) / 1000)
    assert done.latency_ms > 0
    usage = stub.usage()
    assert (usage["requests"], usage["by_status"]) == (1, {"200": 1})
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (9, 8)


def test_without_prices_the_cost_is_unknown(stub):
    [done] = complete_all(chat_target(stub, price_per_1k_prompt=0.5), [ask("hi")])
    assert done.prompt_tokens == 6 and done.cost is None


def test_the_first_matching_rule_answers_and_fills_in_the_user_message(stub):
    stub.configure(
        rules=[
            {"when": "(?i)refund", "reply": "Refunds take 5 days ({user})."},
            {"when": "refund|support bot", "reply": "General help."},
        ]
    )
    texts = [c.text for c in complete_all(chat_target(stub), [ask("A REFUND?"), ask("hello")])]
    # The second question matches only through the system message.
    assert texts == ["Refunds take 5 days (A REFUND?).", "General help."]


def test_a_leaked_address_can_be_limited_to_flagged_rules(stub):
    stub.configure(
        rules=[{"when": "account", "reply": "Ask the owner.", "leak": True}],
        leak_email="jane.doe@example.com",
        leak_scope="flagged",
    )
    texts = [c.text for c in complete_all(chat_target(stub), [ask("my account"), ask("hi")])]
    assert "jane.doe@example.com" in texts[0]
    assert "@" not in texts[1]
    stub.configure(leak_scope="all")
    [done] = complete_all(chat_target(stub), [ask("hi")])
    assert "jane.doe@example.com" in done.text


def test_concurrency_is_bounded_and_answers_keep_their_order(stub):
    stub.configure(latency_ms=50)
    started = time.perf_counter()
    done = complete_all(chat_target(stub, concurrency=4), [ask(f"q{i}") for i in range(20)])
    elapsed = time.perf_counter() - started
    assert [c.text for c in done] == [f"I can help with: q{i}" for i in range(20)]
    assert stub.usage()["in_flight_max"] == 4
    assert elapsed < 0.75  # serially, 20 calls of 50 ms take 1 s; 4 at a time about 0.25 s


def test_failures_are_retried_until_an_answer(stub):
    stub.configure(fail_next=2)
    [done] = complete_all(chat_target(stub, retries=2), [ask("hi")])
    assert done.error is None and done.text == "I can help with: hi"
    usage = stub.usage()
    assert (usage["requests"], usage["by_status"]) == (3, {"200": 1, "500": 2})


def test_the_error_names_the_status_and_the_attempts(stub):
    stub.configure(fail_next=5)
    [done] = complete_all(chat_target(stub, retries=2), [ask("hi")])
    assert done.text == "" and done.cost is None
    assert "/chat/completions answered 500 after 3 attempts" in done.error
    assert "injected failure" in done.error
    assert stub.usage()["requests"] == 3


def test_retry_after_is_honoured_up_to_the_cap(stub):
    stub.configure(fail_next=1, status_code=429, retry_after=0.3)
    started = time.perf_counter()
    [done] = complete_all(chat_target(stub, backoff_s=0), [ask("hi")])
    assert done.error is None and time.perf_counter() - started >= 0.3
    stub.configure(fail_next=1, status_code=503, retry_after=60)
    started = time.perf_counter()
    [done] = complete_all(chat_target(stub, max_retry_after_s=0.1), [ask("hi")])
    assert done.error is None and time.perf_counter() - started < 1


def test_other_client_errors_are_not_retried(stub):
    stub.configure(fail_next=3, status_code=404)
    [done] = complete_all(chat_target(stub, retries=2), [ask("hi")])
    assert "answered 404 after 1 attempt:" in done.error
    assert stub.usage()["requests"] == 1


def test_a_slow_reply_times_out(stub):
    stub.configure(latency_ms=400)
    [done] = complete_all(chat_target(stub, timeout_s=0.1, retries=0), [ask("hi")])
    assert "timed out after 0.1 s" in done.error


def test_an_unreachable_server_is_named():
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    target = TargetConfig(kind="openai", base_url=base_url, model="m", backoff_s=0.01)
    [done] = complete_all(target, [ask("hi")])
    assert done.error == f"cannot reach {base_url}: connection refused (3 attempts)"


def test_a_body_without_choices_is_an_error(stub):
    # /_stub/reset answers 200 with JSON that is not a chat completion.
    target = chat_target(stub, base_url=f"{stub.url}/_stub/reset?path=")
    [done] = complete_all(target, [ask("hi")])
    assert "answered 200 without choices" in done.error


def test_the_key_is_read_from_the_named_variable(monkeypatch):
    handle = start_stub(api_key="sk-stub")
    try:
        monkeypatch.delenv("STUB_KEY", raising=False)
        [refused] = complete_all(chat_target(handle, api_key_env="STUB_KEY"), [ask("hi")])
        assert "answered 401 after 1 attempt" in refused.error
        assert "Incorrect API key" in refused.error
        monkeypatch.setenv("STUB_KEY", "sk-stub")
        [done] = complete_all(chat_target(handle, api_key_env="STUB_KEY"), [ask("hi")])
        assert done.error is None
        assert handle.usage()["by_status"] == {"200": 1, "401": 1}
    finally:
        handle.stop()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ("not json", "body"),
    ],
)
def test_a_malformed_request_gets_an_openai_error(stub, body, words):
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = httpx.post(f"{stub.base_url}/chat/completions", **kwargs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and words in error["message"]


def test_the_stub_lists_its_model_and_refuses_a_bad_config(stub):
    assert httpx.get(f"{stub.base_url}/models").json()["data"][0]["id"] == "chat-stub"
    with pytest.raises(httpx.HTTPStatusError):
        stub.configure(status_code=200)


def test_a_stub_starts_and_stops_quickly():
    started = time.perf_counter()
    handle = start_stub(rules=[{"when": "x", "reply": "y"}], latency_ms=1)
    assert httpx.get(f"{handle.base_url}/models").status_code == 200
    handle.stop()
    assert time.perf_counter() - started < 1
    assert not handle.thread.is_alive()


def test_the_stub_runs_as_a_command(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- when: refund\n  reply: 'Refund: {user}'\n")
    port = closed_port()
    args = ["--port", str(port), "--rules", str(rules), "--latency-ms", "1"]
    process = subprocess.Popen([sys.executable, "-m", "deployments.chat_stub", *args])
    try:
        target = TargetConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1", model="m")
        deadline = time.monotonic() + 10
        while (done := complete_all(target, [ask("a refund")])[0]).error:
            assert time.monotonic() < deadline, done.error
            time.sleep(0.1)
        assert done.text == "Refund: a refund"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_callable_targets_answer_with_text_or_a_mapping():
    plain = TargetConfig(kind="callable", function="llm_callables:support_bot", concurrency=2)
    done = complete_all(plain, [ask("a refund"), ask("hours")])
    assert [c.text for c in done] == [
        "Refunds are processed within 5 business days.",
        "Thanks for asking about: hours",
    ]
    assert done[0].prompt_tokens is None and done[0].cost is None
    priced = TargetConfig(
        kind="callable",
        function="llm_callables:support_bot_with_usage",
        price_per_1k_prompt=1.0,
        price_per_1k_completion=1.0,
    )
    [usage] = complete_all(priced, [ask("hours")])
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 5)
    assert usage.cost == pytest.approx(0.011)


def test_a_callable_failure_is_that_cases_error():
    broken = TargetConfig(kind="callable", function="llm_callables:broken_bot")
    [done] = complete_all(broken, [ask("hi")])
    assert done.error == "llm_callables:broken_bot raised ValueError: model unavailable"
    silent = TargetConfig(kind="callable", function="llm_callables:silent_bot")
    assert "returned NoneType" in complete_all(silent, [ask("hi")])[0].error


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "callable", "function": "llm_callables.support_bot"}, "'module:function'"),
        ({"kind": "callable", "function": "no_such_module:f"}, "cannot import no_such_module"),
        ({"kind": "callable", "function": "llm_callables:SYSTEM"}, "is not callable"),
        ({"kind": "openai", "base_url": "ftp://host/v1", "model": "m"}, "base_url"),
        ({"kind": "openai", "base_url": "http://h/v1"}, "model is required"),
        ({"kind": "openai", "base_url": "http://h", "model": "m", "concurrency": 0}, "concurrency"),
        ({"kind": "openai", "base_url": "http://h", "model": "m", "temp": 1}, "temp: Extra"),
        (
            {"kind": "openai", "base_url": "http://h", "model": "m", "params": {"stream": True}},
            "stream",
        ),
        ({"kind": "grpc"}, "kind"),
    ],
)
def test_a_bad_target_config_names_the_field(fields, words):
    with pytest.raises(TargetError) as refused:
        TargetConfig(**fields)
    assert words in str(refused.value)


def test_targets_from_registered_llm_configurations():
    target = target_from_llm_config(
        {
            "base_model": "llama-3.1-8b",
            "provider": "openai-compatible",
            "base_url": "http://127.0.0.1:8100/v1",
            "parameters": {"temperature": 0.1},
            "concurrency": 3,
            "price_per_1k_prompt": 0.1,
        }
    )
    assert (target.kind, target.model, target.concurrency) == ("openai", "llama-3.1-8b", 3)
    assert target.params == {"temperature": 0.1} and target.price_per_1k_prompt == 0.1
    assert target_from_llm_config({"base_model": "gpt-4o", "provider": "openai"}).base_url
    called = target_from_llm_config(
        {"base_model": "bot", "provider": "callable", "function": "llm_callables:support_bot"}
    )
    assert called.kind == "callable"
    with pytest.raises(TargetError, match="base_url"):
        target_from_llm_config({"base_model": "m", "provider": "openai-compatible"})
    with pytest.raises(TargetError, match="provider 'bedrock'"):
        target_from_llm_config({"base_model": "m", "provider": "bedrock"})
