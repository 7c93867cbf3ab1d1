"""An approver decides in the real Prefect UI: headless Chromium fills the suspended run's form.

promote-model suspends once per missing role; the run page's Resume dialog shows the evidence
Markdown above the `ApprovalInput` fields (Approver, Role, Decision, One-time code, Notes).
Submitting it resumes the run, and the flow (not the browser) records the decision.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flowkit import actor, now, wait_final, wait_suspended

from flows import promotion_runs
from flows.approval import request_id_from_key
from governance.domain.approvals import ApprovalRequest, RequestStatus
from governance.reports.approval_form import grouped_digest
from governance.services.promotion import approval_queue, approval_requests
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESUME_TIMEOUT_MS = 90_000
TIMEOUT_MS = 30_000
# How long the flow may take to record a submitted form: the runner picks the resumed run
# up within ~2 s, then re-executes it from the top.
RECORD_TIMEOUT = 60.0
WRONG_REASON = "one-time code for carol is wrong or expired"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium); the UI test needs a real browser",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
# Assertions wait as long as page actions: a loaded CI machine makes the UI slower than 5 s.
sync_api.expect.set_options(timeout=TIMEOUT_MS)


class ResumeFormV1:
    """The v1 UI (Vue): Resume is a button; dropdowns are the design system's own selects."""

    ui = "v1"
    path = "/runs/flow-run/{run_id}"
    submit = "Submit"

    def open(self, page):
        """Open the resume dialog from the run page."""
        page.get_by_role("button", name="Resume", exact=True).click()

    def field(self, dialog, label: str):
        """One property of the schema form, found by its visible label."""
        name = dialog.page.locator(".schema-form-property__label", has_text=label)
        return dialog.locator(".schema-form-property").filter(has=name)

    def text_input(self, dialog, label: str):
        """The text field labelled `label`."""
        return self.field(dialog, label).locator("textarea, input")

    def choose(self, dialog, label: str, option: str) -> None:
        """Pick `option` in the dropdown labelled `label`."""
        button = self.field(dialog, label).locator("button.p-select-button__control")
        # A mouse click on this button toggles its pop-over twice; the keyboard opens it.
        button.press("ArrowDown")
        dialog.page.get_by_role("option", name=option, exact=True).click()
        sync_api.expect(button).to_have_text(option)


class ResumeFormV2:
    """The v2 UI (React): Resume is in the run's menu; fields carry proper labels."""

    ui = "v2"
    path = "/v2/runs/flow-run/{run_id}"
    submit = "Resume"

    def open(self, page):
        """Open the resume dialog from the run page's menu."""
        page.get_by_role("button", name="Open menu").first.click()
        page.get_by_role("menuitem", name="Resume").click()

    def text_input(self, dialog, label: str):
        """The text field labelled `label` (optional fields add " (Optional)" to it)."""
        return dialog.get_by_label(label)

    def choose(self, dialog, label: str, option: str) -> None:
        """Pick `option` in the dropdown labelled `label`."""
        button = dialog.get_by_role("button", name=f"Select {label}")
        button.click()
        dialog.page.get_by_role("option", name=option, exact=True).click()
        sync_api.expect(button).to_have_text(option)


FORMS = [ResumeFormV1(), ResumeFormV2()]


def start(w, version="1.1.0", by="alice", target="production") -> str:
    """`governance promote` as `by` (as in test_promote_model.py); returns the run id."""
    params = {"model": w.churn, "version": version, "dataset": "holdout", "target": target}
    run = promotion_runs.submit_promotion(w.gov, actor(by), params, now=now())
    return str(run.id)


def suspended_request(w, run_id: str, after_answers: int) -> tuple[str, ApprovalRequest]:
    """Wait for the run's suspend after `after_answers` answers; its key and request."""
    key = wait_suspended(run_id, after_answers=after_answers)
    return key, approval_requests.get_request(w.gov, request_id_from_key(key))


def wait_answers(w, request_id: str, count: int, timeout: float = RECORD_TIMEOUT) -> None:
    """Wait until the flow has recorded `count` answers (decisions and refusals) in all."""
    deadline = time.monotonic() + timeout
    while approval_queue.answers(w.gov, request_id) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the flow did not record answer {count} on {request_id} within {timeout} s "
                "of the form's submission"
            )
        time.sleep(0.2)


@contextmanager
def resume_dialog(form, prefect_api: str, run_id: str, request: ApprovalRequest) -> Iterator:
    """Headless Chromium on the run page with its Resume dialog open, checked to show the
    request's evidence and the code field; yields (page, dialog).

    Playwright's sync API runs an event loop while it is open, and Prefect's sync calls
    (run_deployment, resume_flow_run) turn into coroutines under a running loop, so the
    browser lives only inside this block and the test talks to Prefect outside it.
    """
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(prefect_api.removesuffix("/api") + form.path.format(run_id=run_id))
            form.open(page)
            dialog = page.get_by_role("dialog").filter(has_text="Resume Flow Run")
            sync_api.expect(dialog).to_be_visible()
            # The evidence Markdown is rendered above the fields: heading, then tables.
            title = f"Approve {request.model_name} {request.version} for production?"
            sync_api.expect(dialog.get_by_role("heading", name=title)).to_be_visible()
            evidence = dialog.locator("table").filter(has_text="Evidence digest")
            sync_api.expect(evidence).to_contain_text(grouped_digest(request.evidence_digest))
            sync_api.expect(form.text_input(dialog, "One-time code")).to_be_visible()
            yield page, dialog
        finally:
            browser.close()


def screenshot(page, shot: Path) -> None:
    """Save a screenshot under the test's tmp_path and copy it to /tmp for a human."""
    page.screenshot(path=str(shot))
    shutil.copy(shot, Path("/tmp") / shot.name)


def fill_and_submit(form, page, dialog, *, role, code, notes, shot: Path, decision="approve"):
    """Fill the dialog as carol, screenshot it (also to /tmp for a human), submit it."""
    form.text_input(dialog, "Approver").fill("carol")
    form.choose(dialog, "Role", role)
    form.choose(dialog, "Decision", decision)
    form.text_input(dialog, "One-time code").fill(code)
    form.text_input(dialog, "Notes").fill(notes)
    screenshot(page, shot)
    dialog.get_by_role("button", name=form.submit, exact=True).click()
    # The server answers the resume; on a busy machine that takes longer than Playwright's 5 s,
    # and the Prefect server (SQLite) was seen to stall for most of a minute under CI's load.
    sync_api.expect(dialog).to_be_hidden(timeout=RESUME_TIMEOUT_MS)


def events(w, event_type: str):
    """Audit events of one type about this test's churn model."""
    return audit.history(w.gov, event_type=event_type, model=w.churn)


@pytest.mark.parametrize("form", FORMS, ids=[f"ui-{f.ui}" for f in FORMS])
def test_an_approver_decides_on_the_resume_form_in_the_prefect_ui(
    form, world, prefect_api, tmp_path
):
    w = world
    run_id = start(w)
    key, request = suspended_request(w, run_id, after_answers=0)
    assert key.endswith("-ml-lead-0")

    with resume_dialog(form, prefect_api, run_id, request) as (page, dialog):
        # For a human: the dialog as it opens, then scrolled to the evidence digest.
        screenshot(page, tmp_path / f"approval-evidence-{form.ui}.png")
        dialog.get_by_text(grouped_digest(request.evidence_digest)).scroll_into_view_if_needed()
        screenshot(page, tmp_path / f"approval-digest-{form.ui}.png")
        fill_and_submit(
            form,
            page,
            dialog,
            role="ml_lead",
            code=w.codes.code("carol"),  # valid for its own 30 s step and the next
            notes="approved from the UI",
            shot=tmp_path / f"approval-form-{form.ui}.png",
        )

    wait_answers(w, request.id, 1)
    recorded = approval_requests.get_request(w.gov, request.id)
    assert approval_requests.refused_attempts(w.gov, request.id) == []
    assert [(a.approver, a.role) for a in recorded.approvals] == [("carol", "ml_lead")]
    assert recorded.status == RequestStatus.open

    second, _ = suspended_request(w, run_id, after_answers=1)
    assert second.endswith("-risk-officer-1")
    dave = promotion_runs.resume_with_decision(
        w.gov,
        run_id,
        approver="dave",
        role="risk_officer",
        decision="approve",
        notes="",
        code=w.codes.code("dave"),
    )
    assert dave.accepted and dave.request.status == RequestStatus.approved
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{w.churn}@1.1.0 is now production")

    decided = events(w, "approval.decided")
    assert [(e.actor, e.details["role"], e.details["verified"]) for e in decided] == [
        ("carol", "ml_lead", True),
        ("dave", "risk_officer", True),
    ]
    assert decided[0].details["decision"] == "approve"
    assert decided[0].details["notes"] == "approved from the UI"
    assert decided[0].details["request_id"] == request.id
    assert [e.details["evidence_digest"] for e in decided] == [request.evidence_digest] * 2
    assert events(w, "approval.refused") == []


def test_a_wrong_code_typed_in_the_ui_is_refused_and_shown_on_the_next_form(
    world, prefect_api, tmp_path
):
    w = world
    form = ResumeFormV2()
    run_id = start(w)
    key, request = suspended_request(w, run_id, after_answers=0)
    assert key.endswith("-ml-lead-0")

    with resume_dialog(form, prefect_api, run_id, request) as (page, dialog):
        sync_api.expect(dialog).not_to_contain_text("Previous input refused")
        fill_and_submit(
            form,
            page,
            dialog,
            role="ml_lead",
            code="000000",
            notes="wrong code on purpose",
            shot=tmp_path / "approval-form-wrong-code-v2.png",
        )

    wait_answers(w, request.id, 1)
    [refused] = events(w, "approval.refused")
    assert (refused.actor, refused.details["role"], refused.details["reason"]) == (
        "carol",
        "ml_lead",
        WRONG_REASON,
    )
    assert refused.details["error"] == "InvalidCode"
    assert refused.details["evidence_digest"] == request.evidence_digest
    assert events(w, "approval.decided") == []
    assert approval_requests.get_request(w.gov, request.id).approvals == []

    again, request = suspended_request(w, run_id, after_answers=1)
    assert again.endswith("-ml-lead-1") and again != key
    with resume_dialog(form, prefect_api, run_id, request) as (page, dialog):
        sync_api.expect(dialog).to_contain_text(f"Previous input refused: {WRONG_REASON}")
        screenshot(page, tmp_path / "approval-form-refused-v2.png")

    # Clean up: gina (also ml_lead) rejects, so carol's next code is not waited for.
    rejected = promotion_runs.resume_with_decision(
        w.gov,
        run_id,
        approver="gina",
        role="ml_lead",
        decision="reject",
        notes="cleaning up",
        code=w.codes.code("gina"),
    )
    assert rejected.accepted and rejected.request.status == RequestStatus.rejected
    state = wait_final(run_id)
    assert (state.name, state.message) == (
        "Rejected",
        f"{w.churn}@1.1.0 rejected by gina as ml_lead: cleaning up",
    )
