"""The console's OIDC single sign-on against real providers on 127.0.0.1.

A real `governance server run` process talks to oidc-provider-mock (a real OpenID provider)
for the whole authorization-code-with-PKCE round trip, and to a provider of our own whose
ID tokens each test shapes, to show every check of the token refuses what it must: each
refusal is a page naming the problem, no session, and `person.sso_refused` on the trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from gatewaykit import free_port, settings_env
from oidckit import RogueProvider, mock_provider, one_clock, sign_in_at_mock  # noqa: F401
from seeding import make_settings
from serverkit import server_process

from governance.bootstrap import open_governance
from governance.keyring import create_secret_key
from governance.server import app as server_app
from governance.services.trust import identity
from governance.store.schema import upgrade

CLIENT_ID = "governance-console"
SECRET = "console-secret-not-logged"
# oidc-provider-mock (a test dependency) calls authlib APIs that authlib 1.9 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]
USERS = {
    "sub-carol": {"preferred_username": "Carol", "email": "carol@example.org"},
    "sub-mallory": {"preferred_username": "mallory"},  # not in the roster
    "sub-heidi": {"preferred_username": "heidi"},  # in the roster, never enrolled
}


class Console:
    """One server process wired to one provider, and its database for the tests to read."""

    def __init__(self, url: str, issuer: str, gov) -> None:
        self.url, self.issuer, self.gov = url, issuer, gov

    def events(self, event_type: str) -> list:
        """The trail's events of one type, oldest first."""
        with self.gov.store.read() as tx:
            return tx.audit.query(event_type=event_type)

    def start(self, client: httpx.Client, next_path: str = "/inbox") -> str:
        """`GET /login/sso?next=...`: the provider's authorization URL it redirects to."""
        answer = client.get(f"{self.url}/login/sso", params={"next": next_path})
        assert answer.status_code == 303, answer.text
        assert "governance_sso" in answer.cookies
        return answer.headers["location"]


def _console(tmp, issuer: str, enrolled: list[str]):
    settings = make_settings(tmp, f"sqlite:///{tmp / 'governance.db'}")
    settings.home.mkdir(parents=True, exist_ok=True)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    for name in enrolled:
        identity.enroll(gov, name, actor="test-setup", now=datetime.now(UTC))
    env = {
        **settings_env(settings),
        "GOVERNANCE_OIDC_ISSUER": issuer,
        "GOVERNANCE_OIDC_CLIENT_ID": CLIENT_ID,
        "GOVERNANCE_OIDC_CLIENT_SECRET": SECRET,
    }
    return settings, env, gov


@pytest.fixture
def client():
    """A browser's cookie jar and connections (each test a fresh browser)."""
    with httpx.Client() as browser:
        yield browser


@pytest.fixture(scope="module")
def mocked(tmp_path_factory):
    """The server and oidc-provider-mock; carol and dave enrolled, heidi not."""
    tmp = tmp_path_factory.mktemp("sso-mock")
    with mock_provider(USERS) as issuer:
        settings, env, gov = _console(tmp, issuer, ["carol", "dave"])
        with server_process(settings, env=env) as (url, _process):
            yield Console(url, issuer, gov)
        gov.close()


@pytest.fixture(scope="module")
def rogue(tmp_path_factory):
    """The server and a provider whose ID tokens the test shapes; carol enrolled."""
    tmp = tmp_path_factory.mktemp("sso-rogue")
    provider = RogueProvider(CLIENT_ID)
    with provider.serving() as issuer:
        settings, env, gov = _console(tmp, issuer, ["carol"])
        with server_process(settings, env=env) as (url, _process):
            console = Console(url, issuer, gov)
            console.provider = provider
            yield console
        gov.close()


def test_a_roster_person_signs_in_and_the_session_works(mocked, client):
    authorize = mocked.start(client, "/models/churn?tab=versions")
    asked = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{mocked.issuer}/oauth2/authorize?")
    assert asked["client_id"] == [CLIENT_ID] and asked["response_type"] == ["code"]
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["redirect_uri"] == [f"{mocked.url}/login/sso/callback"]
    assert "openid" in asked["scope"][0].split() and asked["nonce"][0] and asked["state"][0]

    back = sign_in_at_mock(client, authorize, "sub-carol")
    landed = client.get(back.headers["location"])

    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/models/churn?tab=versions"
    cookie = next(c for c in client.cookies.jar if c.name == "governance_session")
    assert cookie.path == "/" and not cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    set_cookie = landed.headers.get_list("set-cookie")
    assert any("governance_session=" in h and "SameSite=lax" in h for h in set_cookie)
    with httpx.Client() as api:
        whoami = api.get(
            f"{mocked.url}/v1/whoami", headers={"Authorization": f"Bearer {cookie.value}"}
        )
    assert whoami.status_code == 200
    assert whoami.json()["name"] == "carol" and whoami.json()["method"] == "oidc"

    inbox = client.get(f"{mocked.url}/inbox")
    assert inbox.status_code == 200
    assert "Logged in as <strong>carol</strong> (ml_lead)" in inbox.text

    (opened,) = [e for e in mocked.events("person.logged_in") if e.actor == "carol"]
    assert opened.details["method"] == "oidc"
    assert (opened.details["issuer"], opened.details["subject"]) == (mocked.issuer, "sub-carol")
    assert SECRET not in str(opened.details) and cookie.value not in str(opened.details)


def test_a_callback_with_another_state_is_refused_before_the_code_is_spent(mocked, client):
    back = sign_in_at_mock(client, mocked.start(client), "sub-carol")
    forged = back.headers["location"].replace("state=", "state=forged")
    before = len(mocked.events("person.logged_in"))

    answer = client.get(forged)

    assert answer.status_code == 400
    assert "does not match the one this browser started with" in answer.text
    assert "<h1>Single sign-on refused</h1>" in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "governance_session" not in answer.cookies
    assert len(mocked.events("person.logged_in")) == before
    refused = mocked.events("person.sso_refused")[-1]
    assert refused.details["reason"] == "state" and refused.actor == "anonymous"


def test_a_callback_without_the_browsers_login_cookie_is_refused(mocked, client):
    back = sign_in_at_mock(client, mocked.start(client), "sub-carol")

    # Another browser (an attacker's link) lands on the callback: no state cookie there.
    with httpx.Client() as other:
        answer = other.get(back.headers["location"])

    assert answer.status_code == 400 and "started no single sign-on here" in answer.text
    assert mocked.events("person.sso_refused")[-1].details["reason"] == "state"


@pytest.mark.parametrize(
    ("sub", "reason", "words"),
    [
        ("sub-mallory", "not_in_roster", "mallory is not in the policy roster"),
        ("sub-heidi", "not_enrolled", "heidi has no authenticator"),
    ],
)
def test_a_person_the_roster_or_enrolment_lacks_gets_no_session(mocked, client, sub, reason, words):
    back = sign_in_at_mock(client, mocked.start(client), sub)
    sessions = len(mocked.events("person.logged_in"))

    answer = client.get(back.headers["location"])

    assert answer.status_code == 403 and words in answer.text
    assert "governance_session" not in answer.cookies
    assert len(mocked.events("person.logged_in")) == sessions
    refused = mocked.events("person.sso_refused")[-1]
    assert refused.details["reason"] == reason and refused.details["subject"] == sub
    assert refused.details["issuer"] == mocked.issuer


def test_a_replayed_callback_opens_no_second_session(mocked, client):
    back = sign_in_at_mock(client, mocked.start(client), "sub-carol")
    assert client.get(back.headers["location"]).status_code == 303
    sessions = len(mocked.events("person.logged_in"))

    # The login's state cookie was spent by the first callback.
    again = client.get(back.headers["location"])

    assert again.status_code == 400 and "started no single sign-on here" in again.text
    assert len(mocked.events("person.logged_in")) == sessions


def test_a_login_the_person_denies_at_the_provider_is_refused(mocked, client):
    denied = client.post(mocked.start(client), data={"action": "deny"})
    assert denied.status_code == 302

    answer = client.get(denied.headers["location"])

    assert answer.status_code == 400
    assert "the identity provider refused the login: access_denied" in answer.text
    assert mocked.events("person.sso_refused")[-1].details["reason"] == "provider_denied"


def test_the_next_path_stays_on_this_site(mocked, client):
    back = sign_in_at_mock(client, mocked.start(client, "//evil.example/x"), "sub-carol")
    assert client.get(back.headers["location"]).headers["location"] == "/inbox"


@pytest.mark.parametrize(
    ("shape", "stray", "reason", "words"),
    [
        (
            {"iss": "http://127.0.0.1:1/other"},
            False,
            "issuer",
            "was issued by http://127.0.0.1:1/other, not http://127.0.0.1:",
        ),
        (
            {"aud": "another-client"},
            False,
            "audience",
            "is for the audience another-client, not this console (governance-console)",
        ),
        ({"exp": 1_700_000_000, "iat": 1_699_999_000}, False, "expired", "expired at 2023-"),
        ({"nonce": "another-login"}, False, "nonce", "nonce is not the one this login sent"),
        ({}, True, "signature", "does not verify with any key"),
    ],
)
def test_an_id_token_failing_a_check_opens_no_session(rogue, client, shape, stray, reason, words):
    rogue.provider.shape, rogue.provider.sign_with_stray = shape, stray
    back = client.get(rogue.start(client))
    sessions = len(rogue.events("person.logged_in"))

    answer = client.get(back.headers["location"])

    assert answer.status_code == 401, answer.text
    assert words in answer.text
    assert "governance_session" not in answer.cookies
    assert len(rogue.events("person.logged_in")) == sessions
    refused = rogue.events("person.sso_refused")[-1]
    assert refused.details["reason"] == reason
    assert SECRET not in str(refused.details) and "code-" not in str(refused.details)


def test_the_honest_rogue_token_does_open_a_session(rogue, client):
    """The shaped refusals above fail on their one change, not on the provider itself."""
    rogue.provider.shape, rogue.provider.sign_with_stray = {}, False
    back = client.get(rogue.start(client))
    landed = client.get(back.headers["location"])
    assert landed.status_code == 303 and "governance_session" in landed.cookies


def test_the_login_page_offers_single_sign_on(mocked, client):
    page = client.get(f"{mocked.url}/login", params={"next": "/models?stage=production"})
    assert page.status_code == 200
    assert 'href="/login/sso?next=/models%3Fstage%3Dproduction">Sign in with SSO</a>' in page.text


@pytest.mark.sqlite_only
def test_without_an_issuer_there_is_no_sso_and_the_login_page_offers_none(gov):
    with TestClient(server_app.create_app(gov=gov), follow_redirects=False) as console:
        answer = console.get("/login/sso", params={"next": "/inbox"})
        page = console.get("/login")

    assert answer.status_code == 404
    assert "single sign-on is not set up on this server" in answer.text
    assert "Sign in with SSO" not in page.text
    with gov.store.read() as tx:
        (refused,) = tx.audit.query(event_type="person.sso_refused")
    assert refused.details["reason"] == "not_configured"


@pytest.mark.sqlite_only
def test_an_unreachable_provider_is_a_502_page_naming_it(gov):
    gov.settings.oidc_issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(server_app.create_app(gov=gov), follow_redirects=False) as console:
        answer = console.get("/login/sso")

    assert answer.status_code == 502
    discovery = f"{gov.settings.oidc_issuer}/.well-known/openid-configuration"
    assert f"the identity provider&#39;s discovery document at {discovery} is unreachable" in (
        answer.text
    )
    assert "governance_sso" not in answer.cookies
