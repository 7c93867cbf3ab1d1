"""The console's single sign-on in a real browser (Debian's Chromium, headless).

A person opens the console, clicks "Sign in with SSO", picks their account on
oidc-provider-mock's form and lands back on the page they asked for, logged in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gatewaykit import settings_env
from oidckit import mock_provider, one_clock  # noqa: F401
from seeding import make_settings
from serverkit import server_process

from governance.bootstrap import open_governance
from governance.keyring import create_secret_key
from governance.services.trust import identity
from governance.store.schema import upgrade

pytestmark = [
    pytest.mark.sqlite_only,
    # oidc-provider-mock (a test dependency) calls authlib APIs that authlib 1.9 deprecates.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium); the SSO test needs a real browser",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
sync_api.expect.set_options(timeout=TIMEOUT_MS)


def _loopback_only(route) -> None:
    """Let the browser reach 127.0.0.1 only (the mock's page links a CDN stylesheet)."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def test_sign_in_with_sso_lands_on_the_console_logged_in(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'governance.db'}")
    settings.home.mkdir(parents=True, exist_ok=True)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    identity.enroll(gov, "carol", actor="test-setup", now=datetime.now(UTC))
    users = {"carol@example.org": {"preferred_username": "carol"}}
    with (
        mock_provider(users) as issuer,
        server_process(
            settings,
            env={
                **settings_env(settings),
                "GOVERNANCE_OIDC_ISSUER": issuer,
                "GOVERNANCE_OIDC_CLIENT_ID": "governance-console",
                "GOVERNANCE_OIDC_CLIENT_SECRET": "s3cret",
            },
        ) as (url, _process),
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", _loopback_only)
            page.goto(f"{url}/inbox")
            # No session: the console sends the browser to its login page, and back after.
            sync_api.expect(page).to_have_url(f"{url}/login?next=/inbox")
            page.screenshot(path=str(tmp_path / "sso-login.png"))
            page.get_by_role("link", name="Sign in with SSO").click()

            sync_api.expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
            page.get_by_role("button", name="carol@example.org").click()

            sync_api.expect(page).to_have_url(f"{url}/inbox")
            sync_api.expect(page.locator(".who")).to_contain_text("Logged in as carol")
            page.screenshot(path=str(tmp_path / "sso-landed.png"), full_page=True)
            cookie = next(c for c in page.context.cookies() if c["name"] == "governance_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        finally:
            browser.close()
    with gov.store.read() as tx:
        (opened,) = tx.audit.query(event_type="person.logged_in")
    gov.close()
    assert opened.details["method"] == "oidc" and opened.details["subject"] == "carol@example.org"
