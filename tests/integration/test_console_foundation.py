"""The console's foundation: login, sessions in a cookie, CSRF, headers and error pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from governance.server import app as server_app
from governance.server.console import web_session
from governance.server.console.csrf import csrf_token
from governance.server.console.security import HEADERS


@pytest.fixture
def clock(monkeypatch, now):
    """The console's clock, held at the test's `now` and moved by the test."""
    current = {"at": now}
    monkeypatch.setattr(web_session, "now", lambda: current["at"])
    monkeypatch.setattr(server_app, "now", lambda: current["at"])
    return current


@pytest.fixture
def client(gov, codes, clock):
    """The server app in-process, everyone enrolled; http://testserver."""
    with TestClient(server_app.create_app(gov=gov), follow_redirects=False) as test_client:
        yield test_client


def _login_csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def log_in(client: TestClient, name: str, code: str, next_path: str = "/inbox"):
    """Post the login form as a browser would, with the form's CSRF token."""
    token = _login_csrf(client)
    return client.post(
        "/login", data={"name": name, "code": code, "next": next_path, "csrf": token}
    )


def test_every_response_carries_the_security_headers(client):
    for path in ("/login", "/static/htmx.min.js", "/v1/health", "/no-such-page"):
        answer = client.get(path)
        for header, value in HEADERS.items():
            assert answer.headers[header] == value, (path, header)
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]


def test_login_sets_an_httponly_lax_session_cookie_and_returns_to_next(client, codes, gov):
    answer = log_in(client, "carol", codes("carol"), next_path="/inbox?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/inbox?x=1"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("governance_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    with gov.store.read() as tx:
        assert [e.actor for e in tx.audit.query(event_type="person.logged_in")] == ["carol"]


def test_login_with_a_wrong_code_is_refused_on_the_page_naming_it(client, codes, gov):
    wrong = "000000" if codes("dave") != "000000" else "111111"
    answer = log_in(client, "dave", wrong)
    assert answer.status_code == 401
    assert "governance_session" not in client.cookies
    assert "one-time code for dave is wrong or expired" in answer.text
    assert 'value="dave"' in answer.text  # the name stays typed
    with gov.store.read() as tx:
        assert tx.audit.query(event_type="person.logged_in") == []
        [refused] = tx.audit.query(event_type="server.call_refused")
    assert refused.details["path"] == "/login" and refused.details["error"] == "InvalidCode"


def test_a_login_post_without_its_form_token_is_refused(client, codes, gov):
    answer = client.post("/login", data={"name": "carol", "code": codes("carol")})
    assert answer.status_code == 403
    assert "CSRF token" in answer.text
    with gov.store.read() as tx:
        assert tx.audit.query(event_type="person.logged_in") == []


def test_an_unknown_path_is_a_404_page_naming_it(client, codes):
    log_in(client, "carol", codes("carol"))
    answer = client.get("/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "there is no page at /no-such-page" in answer.text
    assert "Logged in as <strong>carol</strong>" in answer.text
    api = client.get("/v1/no-such-thing")  # the JSON API keeps JSON
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_no_session_redirects_to_login_with_next(client):
    answer = client.get("/inbox?tab=mine")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/inbox%3Ftab%3Dmine"


def test_an_expired_session_goes_to_login_and_back(client, codes, clock):
    log_in(client, "carol", codes("carol"))
    clock["at"] += timedelta(hours=9)  # sessions last 8 hours
    answer = client.get("/inbox")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/inbox"
    back = log_in(client, "carol", codes("carol", clock["at"]), next_path="/inbox")
    assert back.headers["location"] == "/inbox"


def test_logout_without_csrf_is_refused_and_the_session_lives(client, codes, gov):
    log_in(client, "carol", codes("carol"))
    answer = client.post("/logout")
    assert answer.status_code == 403
    assert "no CSRF token" in answer.text
    forged = client.post("/logout", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert "does not match your session" in forged.text
    with gov.store.read() as tx:
        assert tx.audit.query(event_type="person.logged_out") == []
    token = client.cookies["governance_session"]
    ended = client.post("/logout", data={"csrf": csrf_token(gov, token)})
    assert ended.status_code == 303 and ended.headers["location"] == "/login"
    with gov.store.read() as tx:
        assert [e.actor for e in tx.audit.query(event_type="person.logged_out")] == ["carol"]
    client.cookies.set("governance_session", token)  # a copy of the dead cookie
    assert client.get("/inbox").headers["location"] == "/login?next=/inbox"


def test_the_front_door_opens_the_inbox_and_next_cannot_leave_the_site(client):
    assert client.get("/").headers["location"] == "/inbox"
    page = client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/inbox"' in page.text


def test_over_https_the_cookie_is_secure(gov, codes, clock):
    with TestClient(
        server_app.create_app(gov=gov), base_url="https://testserver", follow_redirects=False
    ) as secure:
        answer = log_in(secure, "carol", codes("carol"))
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("governance_session=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_htmx_s_csrf_header_is_accepted_and_the_page_carries_it(client, codes, gov):
    log_in(client, "carol", codes("carol"))
    token = client.cookies["governance_session"]
    page = client.get("/no-such-page").text
    assert f"""<body hx-headers='{{"X-CSRF-Token": "{csrf_token(gov, token)}"}}'>""" in page
    ended = client.post("/logout", headers={"X-CSRF-Token": csrf_token(gov, token)})
    assert ended.status_code == 303


def test_the_fifth_wrong_code_names_the_lock_and_a_good_code_is_then_refused(
    client, codes, gov, clock
):
    wrong = next(c for c in ("000000", "111111", "222222") if c != codes("erin"))
    for _ in range(4):
        assert log_in(client, "erin", wrong).status_code == 401
    fifth = log_in(client, "erin", wrong)
    until = (clock["at"] + timedelta(minutes=15)).isoformat(timespec="seconds")
    assert f"codes for erin are locked until {until}: 5 wrong codes in 15 minutes" in fifth.text
    locked = log_in(client, "erin", codes("erin"))
    assert locked.status_code == 401
    assert f"codes for erin are locked until {until}" in locked.text
    assert "governance_session" not in client.cookies


def test_a_live_session_skips_the_login_form(client, codes):
    log_in(client, "carol", codes("carol"))
    assert client.get("/login?next=/inbox%3Fa%3D1").headers["location"] == "/inbox?a=1"


def test_a_form_posted_by_an_expired_session_goes_to_login_and_back_to_its_page(
    client, codes, gov, clock
):
    log_in(client, "carol", codes("carol"))
    token = client.cookies["governance_session"]
    clock["at"] += timedelta(hours=9)
    answer = client.post(
        "/logout",
        data={"csrf": csrf_token(gov, token)},
        headers={"Referer": "http://testserver/inbox?tab=mine"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/inbox%3Ftab%3Dmine"
    with gov.store.read() as tx:
        assert tx.audit.query(event_type="person.logged_out") == []
