"""Accessibility: axe-core in Debian's Chromium finds no serious or critical violation.

The pages come from a real server process; people log in through the login form with the
keyboard. The inbox holds an open production request with its evidence (gate, deltas,
fairness); no Prefect run waits on it here, so its decision form is not on the page.
axe-core is vendored for tests only (tests/vendor/axe-core, checked by digest) and is
evaluated in the page through the DevTools protocol, so the page's own CSP stays on.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serverkit import People, server_process

from governance.domain.identity import VerifiedActor
from governance.services.promotion import approval_requests
from governance.services.trust import audit
from governance.signing import generate_keypair

pytestmark = pytest.mark.sqlite_only

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


def axe_source() -> str:
    """The vendored axe-core, refused if it is not the file the README names."""
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, f"{AXE} is not axe-core 4.14.1"
    return data.decode("utf-8")


def serious(page, source: str) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.evaluate(source)
    results = page.evaluate("async () => await axe.run(document)")
    return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]


def explain(violations: list[dict]) -> str:
    """Each violation's id, impact, help and the nodes it names, for the failure message."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"  {json.dumps(node['target'])}: {node['html'][:200]}")
    return "\n".join(lines)


def keyboard_login(page, url: str, name: str, code: str, next_path: str) -> None:
    """Log in through the form with the keyboard alone, landing on `next_path`."""
    page.goto(f"{url}/login?next={next_path}")
    page.get_by_label("Name (as in the roster)").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}{next_path}")


def test_the_audit_browser_inbox_version_and_admin_pages_have_no_serious_violations(
    gov, codes, staged_run
):
    settings = gov.settings
    generate_keypair(settings.resolved_signing_key_file)
    when = datetime.now(UTC)
    # alice's open request for churn 1.1.0 to production: carol's inbox shows its evidence.
    opened = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target="production",
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged_run.id,
        now=when,
    )
    with gov.store.write() as tx:
        for i in range(60):  # more than a page, so the pager shows both links
            tx.audit.append(
                "console.a11y",
                actor="heidi",
                model="m",
                now=when - timedelta(minutes=60 - i),
                details={"i": i, "note": "<b>bold?</b>"},
            )
    audit.anchor(gov, when)
    source = axe_source()
    found: dict[str, list[dict]] = {}
    with server_process(settings) as (url, _process):
        people = People(url, codes.secrets)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(TIMEOUT_MS)
                keyboard_login(page, url, "heidi", people.code("heidi"), "/audit")
                found["/audit"] = serious(page, source)
                page.get_by_role("link", name="Older events").click()
                page.wait_for_url(f"{url}/audit?before=*")
                found["/audit?before"] = serious(page, source)
                inbox = browser.new_page(viewport={"width": 1280, "height": 900})
                inbox.set_default_timeout(TIMEOUT_MS)
                keyboard_login(inbox, url, "carol", people.code("carol"), "/inbox")
                sync_api.expect(inbox.locator(f"#request-{opened.id}")).to_be_visible()
                found["/inbox"] = serious(inbox, source)
                inbox.goto(f"{url}/models/churn/1.1.0")
                sync_api.expect(inbox.locator("h1")).to_contain_text("churn@1.1.0")
                found["/models/churn/1.1.0"] = serious(inbox, source)
                admin = browser.new_page(viewport={"width": 1280, "height": 900})
                admin.set_default_timeout(TIMEOUT_MS)
                keyboard_login(admin, url, "grace", people.code("grace"), "/admin")
                found["/admin"] = serious(admin, source)
            finally:
                browser.close()
    problems = {path: explain(v) for path, v in found.items() if v}
    assert not problems, "\n".join(f"{path}:\n{text}" for path, text in problems.items())
    assert set(found) == {"/audit", "/audit?before", "/inbox", "/models/churn/1.1.0", "/admin"}
