"""The approvals inbox page: what waits for whom, the evidence shown, and refused answers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from promptkit import ALICE, in_production
from test_console_foundation import clock, log_in  # noqa: F401 (a fixture)

from governance.domain.identity import VerifiedActor
from governance.llm.targets import TargetConfig
from governance.server import app as server_app
from governance.server.console import web_session
from governance.server.console.csrf import csrf_token
from governance.services.promotion import approval_requests, decisions
from governance.services.prompts import prompt_evaluation, prompt_promotion, prompt_registry

SUITE = Path(__file__).resolve().parents[1] / "data" / "support_suite.yaml"
CALLABLE = TargetConfig(kind="callable", function="llm_callables:support_bot")


@pytest.fixture
def opened(gov, codes, staged_run, now, monkeypatch):
    """alice's open request to move churn 1.1.0 to production (no run waits on it)."""
    monkeypatch.setattr(web_session, "now", lambda: now)
    monkeypatch.setattr(server_app, "now", lambda: now)
    return approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target="production",
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged_run.id,
        now=now,
    )


@pytest.fixture
def browser(gov):
    """A browser on the server app (in-process)."""
    with TestClient(server_app.create_app(gov=gov), follow_redirects=False) as client:
        yield client


def _article(page: str, request_id: str) -> str:
    found = re.search(rf'<article[^>]*id="request-{request_id}".*?</article>', page, re.S)
    assert found, "the request is not on the page"
    return found.group(0)


def test_a_lead_sees_the_request_with_its_gate_deltas_and_fairness(browser, codes, opened):
    log_in(browser, "carol", codes("carol"))
    page = browser.get("/inbox")
    assert page.status_code == 200
    card = _article(page.text, opened.id)
    assert "churn@1.1.0 &rarr; production" in card
    assert 'Evaluation gate: <span class="pass">passed</span>' in card
    assert "Metrics against production 1.0.0" in card
    assert "Fairness gap (accuracy across groups)" in card and "<td>site</td>" in card
    assert opened.evidence_digest in card
    assert "ml_lead, risk_officer, legal" in card  # what it still needs
    # No run waits on it: it is shown, but it cannot be answered here.
    assert "no run waits on this request" in card
    assert "<button" not in card


def test_the_requester_sees_it_under_what_they_asked_for(browser, codes, opened):
    log_in(browser, "alice", codes("alice"))
    page = browser.get("/inbox").text
    waiting, mine = page.split('id="mine-heading"')
    assert f'id="request-{opened.id}"' not in waiting
    assert "churn@1.1.0" in mine and "ml_lead, risk_officer, legal" in mine


def test_a_person_without_a_needed_role_sees_nothing_and_a_post_is_403(browser, codes, opened, gov):
    log_in(browser, "bob", codes("bob"))  # ml_engineer: not needed for production
    page = browser.get("/inbox")
    assert f'id="request-{opened.id}"' not in page.text
    assert "Nothing waits for your roles (ml_engineer)" in page.text
    token = browser.cookies["governance_session"]
    answer = browser.post(
        f"/inbox/{opened.id}/decision",
        data={"csrf": csrf_token(gov, token), "role": "ml_lead", "decision": "approve",
              "code": codes("bob")},
    )  # fmt: skip
    assert answer.status_code == 403
    assert "bob holds none of the roles churn@1.1.0 still needs" in answer.text
    after = approval_requests.get_request(gov, opened.id)
    assert after.approvals == [] and after.status.value == "open"
    with gov.store.read() as tx:
        refused = tx.audit.query(event_type="server.call_refused")
    assert [(e.actor, e.details["status"]) for e in refused] == [("bob", 403)]


def test_a_decision_without_csrf_is_refused_and_nothing_is_recorded(browser, codes, opened, gov):
    log_in(browser, "carol", codes("carol"))
    answer = browser.post(
        f"/inbox/{opened.id}/decision",
        data={"role": "ml_lead", "decision": "approve", "code": "123456"},
    )
    assert answer.status_code == 403
    assert "the form carried no CSRF token" in answer.text
    assert approval_requests.get_request(gov, opened.id).approvals == []
    assert approval_requests.refused_attempts(gov, opened.id) == []


@pytest.mark.usefixtures("clock")
def test_an_unknown_request_is_a_404_page_naming_it(browser, codes, gov):
    log_in(browser, "carol", codes("carol"))
    token = browser.cookies["governance_session"]
    answer = browser.post(
        "/inbox/no-such-request/decision",
        data={"csrf": csrf_token(gov, token), "role": "ml_lead", "decision": "approve"},
    )
    assert answer.status_code == 404
    assert "no-such-request" in answer.text


def test_a_recorded_decision_is_read_back_and_listed_for_the_next_approver(
    browser, codes, opened, gov, now
):
    decisions.decide(
        gov,
        request_id=opened.id,
        approver="carol",
        role="ml_lead",
        decision="approve",
        notes="looks fine",
        code=codes("carol"),
        now=now,
    )
    log_in(browser, "carol", codes("carol", now + timedelta(seconds=30)))
    page = browser.get(f"/inbox?answered={opened.id}").text
    assert (
        "Recorded: approve by carol as ml_lead on churn@1.1.0 -&gt; production; "
        "the request is open and still needs risk_officer, legal."
    ) in page
    browser.cookies.clear()
    log_in(browser, "dave", codes("dave"))
    card = _article(browser.get("/inbox").text, opened.id)
    assert "<td>carol</td><td>ml_lead</td><td>approve</td>" in card
    assert "<td>looks fine</td>" in card


def test_a_refused_answer_is_shown_on_the_page_naming_why(browser, codes, opened, gov):
    log_in(browser, "carol", codes("carol"))
    token = browser.cookies["governance_session"]
    answer = browser.post(
        f"/inbox/{opened.id}/decision",
        data={"csrf": csrf_token(gov, token), "role": "ml_lead", "decision": "approve",
              "code": "123456", "notes": "kept"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert (
        f'Your decision on <a href="#request-{opened.id}">churn@1.1.0</a> was refused: '
        f"no run waits on request {opened.id}: it cannot be answered here"
    ) in answer.text
    assert approval_requests.get_request(gov, opened.id).approvals == []
    assert approval_requests.refused_attempts(gov, opened.id) == []


@pytest.mark.usefixtures("clock")
def test_a_prompt_request_shows_its_suite_gate_and_template_diff(browser, codes, gov, now):
    in_production(gov, now, prompt_id="helpdesk", template="Old {{ product }}\n")
    made = prompt_registry.register(
        gov, prompt_id="helpdesk", template="<script>alert(1)</script> {{ product }}\n",
        actor=ALICE, now=now,
    )  # fmt: skip
    version = prompt_registry.submit(gov, made.ref, actor=ALICE, now=now)
    suite = prompt_evaluation.register_suite(
        gov, name="support", path=SUITE, actor="alice", now=now
    )
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite, target=CALLABLE, actor="alice", now=now
    )
    request = prompt_promotion.open_request(
        gov, version=version, evaluation=done, requester=ALICE, flow_run_id="run-a", now=now
    )
    log_in(browser, "dave", codes("dave"))
    card = _article(browser.get("/inbox").text, request.id)
    assert f"helpdesk@{version.version} &rarr; production" in card
    assert "prompt promotion run" in card
    assert "Evaluation gate:" in card and "pass_rate" in card
    assert "Template diff" in card
    assert '<span class="del">-Old {{ product }}</span>' in card
    # Template text is shown as text, never as markup.
    assert '<span class="add">+&lt;script&gt;alert(1)&lt;/script&gt; {{ product }}</span>' in card
    assert "<script>alert(1)" not in card
