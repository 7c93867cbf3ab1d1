"""A real browser (Debian's Chromium, headless) through the console's read pages.

Carol logs in with her one-time code on the login page, opens the models list, follows churn
to its production version, and from the version page to the endpoint serving it, whose
routing chart is drawn server-side. Screenshots land in the test's tmp_path (and /tmp); the
version page's is the README's `docs/images/console-version.png`.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from consolekit import console_thread
from consoleworld import seeded

pytestmark = pytest.mark.sqlite_only

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 30_000
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "console-version.png"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
sync_api.expect.set_options(timeout=TIMEOUT_MS)


def shoot(target, shot: Path) -> None:
    """A screenshot of the viewport (or of one element) under tmp_path, copied to /tmp."""
    target.screenshot(path=str(shot))
    shutil.copy(shot, Path("/tmp") / shot.name)


def test_a_browser_goes_from_the_models_list_to_a_version_and_its_endpoint_chart(
    tmp_path, model_bytes
):
    url = f"sqlite:///{tmp_path / 'governance.db'}"
    with seeded(url, tmp_path, model_bytes) as (gov, secrets, _):
        browse(gov, secrets, tmp_path)
    DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "console-version.png", DOCS_SHOT)


def browse(gov, secrets, tmp_path) -> None:
    """Carol's walk through the console, with screenshots."""
    expect = sync_api.expect
    with console_thread(gov) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/models")
            expect(page).to_have_url(f"{url}/login?next=/models")
            page.get_by_label("Name (as in the roster)").fill("carol")
            code = pyotp.TOTP(secrets["carol"]).at(datetime.now(UTC))
            page.get_by_label("One-time code").fill(code)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{url}/models")
            rows = page.locator("tr.model-row")
            expect(rows).to_have_count(2)
            # The risk filter swaps the table through htmx, and the URL follows.
            page.get_by_label("Risk").select_option("low")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-model", "fraud")
            expect(page).to_have_url(f"{url}/models?stage=&risk=low&owner=")
            page.get_by_label("Risk").select_option("")
            expect(rows).to_have_count(2)
            shoot(page, tmp_path / "console-models.png")
            page.get_by_role("link", name="churn", exact=True).click()
            page.get_by_role("link", name="1.1.0", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("churn@1.1.0")
            decisions = page.locator("#decisions tbody tr")
            expect(decisions).to_have_count(3)
            expect(page.locator("#history svg circle").first).to_be_visible()
            shoot(page, tmp_path / "console-version.png")
            shoot(page.locator("#approvals"), tmp_path / "console-version-approvals.png")
            shoot(page.locator("#history"), tmp_path / "console-version-history.png")
            shoot(page.locator("#card"), tmp_path / "console-version-card.png")
            page.locator("dl.facts").get_by_role("link", name="churn-api").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Endpoint churn-api")
            chart = page.locator("#routing-history svg")
            expect(chart).to_be_visible()
            expect(chart.locator("polyline")).to_have_count(2)
            box = chart.bounding_box()
            assert box and box["width"] > 600 and box["height"] > 200
            shoot(page, tmp_path / "console-endpoint.png")
            page.goto(f"{url}/endpoints/churn-api?at=2026-11-23T13:00:00Z")
            shoot(page.locator("#at"), tmp_path / "console-endpoint-at.png")
            page.goto(f"{url}/models/churn/compare?a=1.1.0&b=1.2.0")
            shoot(page, tmp_path / "console-compare.png")
            page.goto(f"{url}/prompts/support")
            shoot(page, tmp_path / "console-prompt.png")
            page.goto(f"{url}/monitoring")
            shoot(page, tmp_path / "console-monitoring.png")
            # The stored report's own script runs, sandboxed in an opaque origin.
            page.goto(f"{url}/monitoring/churn/1.0.0/report")
            expect(page).to_have_title("drift")
            assert page.evaluate("window.origin") == "null"
            page.goto(f"{url}/compliance")
            shoot(page, tmp_path / "console-compliance.png")
        finally:
            browser.close()
