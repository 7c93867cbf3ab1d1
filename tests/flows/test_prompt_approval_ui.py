"""An approver of a prompt decides in the real Prefect UI: headless Chromium reads the form.

promote-prompt suspends once per missing role like promote-model; its Resume dialog shows
`prompt_form_markdown` (the header, the facts, the diff against production, the gate report)
above the `ApprovalInput` fields. The approver must see the change itself before deciding;
the flow (not the browser) records the decision. Browser helpers: test_approval_ui.py;
the chat stub, the prompt and `start`: test_promote_prompt.py.
"""

from __future__ import annotations

import time

import httpx
import pytest
import test_promote_prompt
from flowkit import actor, now, wait_final, wait_suspended
from test_approval_ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    ResumeFormV2,
    fill_and_submit,
    screenshot,
    sync_api,
    wait_answers,
)
from test_promote_prompt import V1, start

from flows import promotion_runs
from flows.approval import request_id_from_key
from governance.domain.approvals import RequestStatus
from governance.domain.prompts import PromptStatus
from governance.services.promotion import approval_queue, approval_requests
from governance.services.prompts import prompt_registry
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only

# The chat stub and a fresh prompt with 1.0.0 and 1.0.1 in review, as fixtures of this module.
chat = test_promote_prompt.chat
prompt = test_promote_prompt.prompt

DEPLOYMENT = "/deployments/name/promote-prompt/promote-prompt"
ADDED = "Offer to open a ticket."  # no escalation contact, so nothing leaks: the gate passes


def wait_deployed(prefect_api: str, timeout: float = 60.0) -> None:
    """The serve process registers its deployments one by one and the session fixture waits
    only for promote-model's; when this test runs first, wait for promote-prompt's too."""
    deadline = time.monotonic() + timeout
    while httpx.get(prefect_api + DEPLOYMENT, timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"promote-prompt was not deployed within {timeout} s")
        time.sleep(0.3)


def test_an_approver_sees_the_prompt_diff_and_gate_and_approves_in_the_prefect_ui(
    world, chat, prompt, prefect_api, tmp_path
):
    w = world
    with w.gov.store.write() as tx:
        first = tx.prompts.get_version(prompt, "1.0.0")
        tx.prompts.set_status(prompt, "1.0.0", PromptStatus.approved, now())
        prompt_registry.move_pointer_in(
            tx, first, kind="promotion", actor="seed", now=now(), reason="seed"
        )
    made = prompt_registry.register(
        w.gov, prompt_id=prompt, template=V1 + ADDED + "\n", actor=actor("alice"), now=now()
    )
    prompt_registry.submit(w.gov, made.ref, actor=actor("alice"), now=now())
    assert made.version == "1.0.2"
    wait_deployed(prefect_api)
    run_id = start(w, chat, prompt, "1.0.2")
    key = wait_suspended(run_id, after_answers=0)
    assert key.endswith("-ml-lead-0")
    request_id = request_id_from_key(key)

    form, expect = ResumeFormV2(), sync_api.expect
    shot = tmp_path / "prompt-approval-diff.png"
    # The browser lives only inside this block: Prefect's sync calls turn into coroutines
    # under Playwright's running loop (see test_approval_ui.resume_dialog).
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(prefect_api.removesuffix("/api") + form.path.format(run_id=run_id))
            form.open(page)
            dialog = page.get_by_role("dialog").filter(has_text="Resume Flow Run")
            expect(dialog).to_be_visible()
            title = f"Put prompt {prompt} 1.0.2 in production?"
            expect(dialog.get_by_role("heading", name=title)).to_be_visible()
            screenshot(page, tmp_path / "prompt-approval-top.png")
            expect(dialog.locator("tr").filter(has_text="Production now")).to_contain_text("1.0.0")
            # The fenced diff is a code block, one diff line per line (not run together).
            diff = dialog.locator("pre").filter(has_text=ADDED)
            expect(diff).to_be_visible()
            assert diff.inner_text().splitlines() == [
                f"--- {prompt}@1.0.0",
                f"+++ {prompt}@1.0.2",
                "@@ -1 +1,2 @@",
                " " + V1.rstrip("\n"),
                "+" + ADDED,
            ]
            expect(dialog.get_by_role("heading", name="Prompt gate: PASSED")).to_be_visible()
            pass_rate = dialog.locator("tr").filter(has_text="pass_rate").first
            expect(pass_rate).to_contain_text("3 of 3 cases passed")
            diff.scroll_into_view_if_needed()
            pass_rate.scroll_into_view_if_needed()
            screenshot(page, shot)  # the diff, the gate's verdict and its pass-rate check
            expect(form.text_input(dialog, "One-time code")).to_be_visible()
            fill_and_submit(
                form,
                page,
                dialog,
                role="ml_lead",
                code=w.codes.code("carol"),  # valid for its own 30 s step and the next
                notes="approved from the UI",
                shot=tmp_path / "prompt-approval-form.png",
            )
        finally:
            browser.close()
    assert shot.exists() and shot.stat().st_size > 10_000

    wait_answers(w, request_id, 1)
    recorded = approval_requests.get_request(w.gov, request_id)
    assert approval_requests.refused_attempts(w.gov, request_id) == []
    assert [(a.approver, a.role) for a in recorded.approvals] == [("carol", "ml_lead")]
    assert recorded.status == RequestStatus.open
    assert approval_queue.request_for_run(w.gov, run_id).request.id == request_id

    second = wait_suspended(run_id, after_answers=1)
    assert second.endswith("-risk-officer-1")
    dave = promotion_runs.resume_with_decision(
        w.gov, run_id, approver="dave", role="risk_officer", decision="approve", notes="",
        code=w.codes.code("dave"),
    )  # fmt: skip
    assert dave.accepted and dave.request.status == RequestStatus.approved
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{prompt}@1.0.2 is in production")
    assert prompt_registry.resolve(w.gov, f"{prompt}@production").version == "1.0.2"

    decided = audit.history(w.gov, event_type="approval.decided", model=prompt)
    assert [(e.actor, e.details["role"], e.details["verified"]) for e in decided] == [
        ("carol", "ml_lead", True),
        ("dave", "risk_officer", True),
    ]
    assert decided[0].details["decision"] == "approve"
    assert decided[0].details["notes"] == "approved from the UI"
    assert decided[0].details["request_id"] == request_id
    assert audit.history(w.gov, event_type="approval.refused", model=prompt) == []
