"""An approver decides in the real Prefect UI: headless Chromium fills the paused run's form."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from governance.services import approvals, audit

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
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium); the UI test needs a real browser",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


def wait_for_next_pause(run_id: str, answered_key: str, timeout: float = 30) -> None:
    """Wait until the run has left the pause with `answered_key`."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if not state.is_paused() or state.state_details.pause_key != answered_key:
                return
            time.sleep(0.05)
    raise AssertionError(f"the run is still paused at {answered_key} after submitting the form")


class ResumeFormV1:
    """The v1 UI (Vue): Resume is a button; dropdowns are the design system's own selects."""

    path = "/runs/flow-run/{run_id}"
    submit = "Submit"

    def open(self, page):
        """Open the resume dialog from the run page."""
        page.get_by_role("button", name="Resume", exact=True).click()

    def field(self, dialog, label: str):
        """One property of the schema form, found by its visible label."""
        name = dialog.page.locator(".schema-form-property__label", has_text=label)
        return dialog.locator(".schema-form-property").filter(has=name)

    def fill(self, dialog, label: str, text: str) -> None:
        """Type into the text field labelled `label`."""
        self.field(dialog, label).locator("textarea").fill(text)

    def choose(self, dialog, label: str, option: str) -> None:
        """Pick `option` in the dropdown labelled `label`."""
        button = self.field(dialog, label).locator("button.p-select-button__control")
        # A mouse click on this button toggles its pop-over twice; the keyboard opens it.
        button.press("ArrowDown")
        dialog.page.get_by_role("option", name=option, exact=True).click()
        sync_api.expect(button).to_have_text(option)


class ResumeFormV2:
    """The v2 UI (React): Resume is in the run's menu; fields carry proper labels."""

    path = "/v2/runs/flow-run/{run_id}"
    submit = "Resume"

    def open(self, page):
        """Open the resume dialog from the run page's menu."""
        page.get_by_role("button", name="Open menu").first.click()
        page.get_by_role("menuitem", name="Resume").click()

    def fill(self, dialog, label: str, text: str) -> None:
        """Type into the text field labelled `label`."""
        dialog.get_by_label(label).fill(text)

    def choose(self, dialog, label: str, option: str) -> None:
        """Pick `option` in the dropdown labelled `label`."""
        button = dialog.get_by_role("button", name=f"Select {label}")
        button.click()
        dialog.page.get_by_role("option", name=option, exact=True).click()
        sync_api.expect(button).to_have_text(option)


@pytest.mark.parametrize("form", [ResumeFormV1(), ResumeFormV2()], ids=["ui-v1", "ui-v2"])
def test_an_approver_decides_on_the_resume_form_in_the_prefect_ui(
    form, world, runner, prefect_api, tmp_path
):
    runner.start(
        model="churn", version="1.1.0", dataset="holdout", requested_by="alice", target="production"
    )
    run_id, key = runner.paused()
    assert "-ml-lead-" in key
    [request] = approvals.pending_requests(world)
    ui = prefect_api.removesuffix("/api")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(ui + form.path.format(run_id=run_id))
            form.open(page)

            dialog = page.get_by_role("dialog").filter(has_text="Resume Flow Run")
            sync_api.expect(dialog).to_be_visible()
            # The evidence Markdown is rendered above the fields: heading, then tables.
            heading = dialog.get_by_role("heading", name="Approve churn 1.1.0 for production?")
            sync_api.expect(heading).to_be_visible()
            evidence = dialog.locator("table").filter(has_text="Evidence digest")
            sync_api.expect(evidence).to_contain_text(request.evidence_digest)

            form.fill(dialog, "Approver", "carol")
            form.choose(dialog, "Role", "ml_lead")
            form.choose(dialog, "Decision", "approve")
            form.fill(dialog, "Notes", "approved from the UI")
            page.screenshot(path=str(tmp_path / "approval-form.png"))
            dialog.get_by_role("button", name=form.submit, exact=True).click()
            sync_api.expect(dialog).to_be_hidden()
        finally:
            browser.close()

    wait_for_next_pause(run_id, key)
    second = runner.resume("dave", "risk_officer")
    assert second != key and "-risk-officer-" in second
    assert runner.finish().name == "Promoted"
    decided = audit.history(world, event_type="approval.decided")
    assert [(e.actor, e.details["role"]) for e in decided] == [
        ("carol", "ml_lead"),
        ("dave", "risk_officer"),
    ]
    assert decided[0].details["decision"] == "approve"
    assert decided[0].details["notes"] == "approved from the UI"
    assert decided[0].details["evidence_digest"] == request.evidence_digest
