"""Approving from the console's inbox in a real browser, against a real server and Prefect.

alice's promote-model run suspends for churn's ml_lead and risk_officer. In headless
Chromium, carol logs in with a one-time code, reads the evidence, is refused a wrong code on
the page, approves; bob (ml_engineer) sees no form and a POST anyway gets 403; dave approves
from the keyboard alone; the run ends Promoted. The console is `governance server run` on
the session's home, resuming runs on the session's Prefect, as `governance approve` does.
"""

from __future__ import annotations

import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flowkit import actor, now, wait_final, wait_suspended
from serverkit import REPO, server_process

from flows import promotion_runs
from governance.domain.approvals import RequestStatus
from governance.services.promotion import approval_requests
from governance.services.registry import versions

pytestmark = pytest.mark.sqlite_only

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 60_000
README_SHOT = REPO / "docs" / "images" / "console-inbox.png"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
sync_api.expect.set_options(timeout=TIMEOUT_MS)
expect = sync_api.expect


@pytest.fixture(scope="module")
def console(prefect_api, served, flow_settings):
    """`governance server run` on the session's home and Prefect: the console's URL."""
    env = {"PREFECT_API_URL": prefect_api, "PREFECT_UI_URL": prefect_api.removesuffix("/api")}
    with server_process(flow_settings, env=env) as (url, _):
        yield url


def off_loop(fn, *args, **kwargs):
    """Call a Prefect sync helper from a thread: Playwright's loop runs in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def lasting_code(codes, name: str) -> str:
    """`name`'s code for the next 30-second step: the flow checks it when the resumed run
    records the answer, which a loaded machine was seen to delay by most of a minute, and a
    code stays accepted until the step after its own ends."""
    step = int(time.time()) // 30
    codes.last[name] = max(codes.last.get(name, -1), step)
    return codes.code(name)


def log_in(browser, url: str, name: str, code: str, console_errors: list[str]):
    """A fresh browser context: the inbox sends it to the login page, and back after."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # A CSP violation (an inline script or style htmx tried) shows as a console error.
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/inbox")
    expect(page).to_have_url(f"{url}/login?next=/inbox")
    page.get_by_label("Name (as in the roster)").fill(name)
    page.get_by_label("One-time code").fill(code)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}/inbox")
    expect(page.get_by_text(f"Logged in as {name}")).to_be_visible()
    return page


def test_approving_from_the_inbox_in_a_browser_ends_the_run_promoted(world, console, tmp_path):
    w, url = world, console
    params = {"model": w.churn, "version": "1.1.0", "dataset": "holdout", "target": "production"}
    run_id = str(promotion_runs.submit_promotion(w.gov, actor("alice"), params, now=now()).id)
    wait_suspended(run_id, after_answers=0)
    [request] = [r for r in approval_requests.pending_requests(w.gov) if r.flow_run_id == run_id]
    card_id = f"#request-{request.id}"
    console_errors: list[str] = []

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            carol = log_in(browser, url, "carol", w.codes.code("carol"), console_errors)
            card = carol.locator(card_id)
            expect(card.get_by_role("heading", level=3)).to_contain_text(
                f"{w.churn}@1.1.0 → production"
            )
            expect(card).to_contain_text("Metrics against production 1.0.0")
            expect(card).to_contain_text("Fairness gap (accuracy across groups)")
            expect(card).to_contain_text(request.evidence_digest)
            expect(
                card.get_by_role("link", name="open its form in the Prefect UI")
            ).to_have_attribute("href", re.compile(f"/runs/flow-run/{run_id}$"))
            carol.screenshot(path=str(tmp_path / "console-inbox.png"), full_page=True)
            README_SHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "console-inbox.png", README_SHOT)

            # A wrong code: refused on the page, naming it; nothing recorded but the refusal.
            card.get_by_label("One-time code").fill("000000")
            card.get_by_label("Notes (recorded)").fill("evidence read")
            with carol.expect_response(re.compile(r"/decision$")) as answered:
                card.get_by_role("button", name="Approve").click()
            assert answered.value.status == 401
            wrong = "one-time code for carol is wrong or expired"
            expect(carol.get_by_role("alert")).to_have_text(
                f"Your decision on {w.churn}@1.1.0 was refused: {wrong}"
            )
            expect(card.locator(f"#error-{request.id}")).to_have_text(f"Refused: {wrong}")
            expect(card.get_by_label("Notes (recorded)")).to_have_value("evidence read")
            carol.screenshot(path=str(tmp_path / "console-refused.png"), full_page=True)
            assert approval_requests.get_request(w.gov, request.id).approvals == []

            off_loop(wait_suspended, run_id, after_answers=1)
            carol_code = lasting_code(w.codes, "carol")
            card.get_by_label("One-time code").fill(carol_code)
            card.get_by_role("button", name="Approve").click()
            expect(carol).to_have_url(f"{url}/inbox?answered={request.id}")
            expect(carol.get_by_role("status")).to_have_text(
                f"Recorded: approve by carol as ml_lead on {w.churn}@1.1.0 -> production; "
                "the request is open and still needs risk_officer."
            )
            carol.screenshot(path=str(tmp_path / "console-recorded.png"))

            # bob holds no role the request needs: no form, and a POST anyway is 403.
            bob = log_in(browser, url, "bob", w.codes.code("bob"), console_errors)
            expect(bob.locator(card_id)).to_have_count(0)
            expect(bob.get_by_role("button", name="Approve")).to_have_count(0)
            token = bob.locator("header input[name=csrf]").get_attribute("value")
            forced = bob.request.post(
                f"{url}/inbox/{request.id}/decision",
                form={"csrf": token, "role": "ml_lead", "decision": "approve", "code": "123456"},
            )
            assert forced.status == 403
            assert "bob holds none of the roles" in forced.text()
            bob.screenshot(path=str(tmp_path / "console-no-role.png"))

            # carol's form replayed as it was sent (same code): refused, nothing recorded twice.
            off_loop(wait_suspended, run_id, after_answers=2)
            replayed = carol.request.post(
                f"{url}/inbox/{request.id}/decision",
                form={
                    "csrf": carol.locator("header input[name=csrf]").get_attribute("value"),
                    "role": "ml_lead",
                    "decision": "approve",
                    "code": carol_code,
                    "notes": "evidence read",
                },
            )
            assert replayed.status in (401, 403), replayed.text()
            approvers = [
                a.approver for a in approval_requests.get_request(w.gov, request.id).approvals
            ]
            assert approvers == ["carol"]

            # dave approves from the keyboard alone: code, Tab to notes, Tab to Approve. (The
            # replay was refused by the page, or recorded as refused by the run: either way the
            # run is suspended again for the risk officer.)
            off_loop(wait_suspended, run_id)
            dave = log_in(browser, url, "dave", w.codes.code("dave"), console_errors)
            form = dave.locator(card_id)
            form.get_by_label("One-time code").focus()
            dave.keyboard.type(lasting_code(w.codes, "dave"))
            dave.keyboard.press("Tab")
            expect(form.get_by_label("Notes (recorded)")).to_be_focused()
            dave.keyboard.type("risk accepted")
            dave.keyboard.press("Tab")
            expect(form.get_by_role("button", name="Approve")).to_be_focused()
            dave.keyboard.press("Enter")
            expect(dave.get_by_role("status")).to_contain_text(
                f"Recorded: approve by dave as risk_officer on {w.churn}@1.1.0 -> production; "
                "the request is approved."
            )
            dave.screenshot(path=str(tmp_path / "console-approved.png"))
        finally:
            browser.close()
    # The refused answers (401, 403) are logged as failed loads; nothing else may be.
    assert [e for e in console_errors if "status of 40" not in e] == []

    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")
    assert versions.resolve(w.gov, f"{w.churn}@production").version == "1.1.0"
    closed = approval_requests.get_request(w.gov, request.id)
    assert closed.status == RequestStatus.approved
    assert [(a.approver, a.role, a.notes) for a in closed.approvals] == [
        ("carol", "ml_lead", "evidence read"),
        ("dave", "risk_officer", "risk accepted"),
    ]
    refused = approval_requests.refused_attempts(w.gov, request.id)
    assert [a.reason for a in refused] == ["one-time code for carol is wrong or expired"]
