"""The console's audit browser and admin page over real HTTP to a real server process.

Each backend gets one server for the module (tests/serverkit.py); people log in through the
console's login form with their one-time codes, once each, and keep their cookies.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import BACKENDS
from gatewaykit import settings_env
from seeding import make_settings
from serverkit import REPO, People, server_process

from governance.bootstrap import open_governance
from governance.domain.audit import slice_hashes
from governance.keyring import create_secret_key
from governance.services.trust import audit, identity
from governance.signing import generate_keypair
from governance.store.schema import upgrade

SEEDED = 260
SEED_START = datetime(2026, 11, 1, tzinfo=UTC)
ACTORS = ("alice", "bob", "carol")


def _seed(gov) -> None:
    """Events of two models, three actors and four types, a minute apart, oldest first."""
    with gov.store.write() as tx:
        for i in range(SEEDED):
            tx.audit.append(
                f"console.test_{i % 4}",
                actor=ACTORS[i % 3],
                model=f"m-{i % 2}",
                now=SEED_START + timedelta(minutes=i),
                details={"i": i, "note": "<script>alert(1)</script>" if i == 7 else ""},
            )


class Site:
    """One backend's server, its database and its people, each with one browser session."""

    def __init__(self, url, gov, people, settings) -> None:
        self.url, self.gov, self.people, self.settings = url, gov, people, settings
        self.browsers: dict[str, httpx.Client] = {}

    def browser(self, name: str) -> httpx.Client:
        """`name`'s browser, logged in through the console's form (once per module)."""
        if name not in self.browsers:
            client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=60)
            form = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            answer = client.post(
                "/login",
                data={"name": name, "code": self.people.code(name), "next": "/", "csrf": token},
            )
            assert answer.status_code == 303, answer.text
            self.browsers[name] = client
        return self.browsers[name]

    def events(self, event_type: str) -> list:
        """The trail's events of one type, oldest first."""
        with self.gov.store.read() as tx:
            return tx.audit.query(event_type=event_type)


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token the page's forms carry."""
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, tmp_path_factory):
    """A server process per backend; everyone enrolled, the trail seeded, one anchor signed."""
    tmp = tmp_path_factory.mktemp(f"console-audit-{request.param}")
    if request.param == "postgres":
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
    else:
        url = f"sqlite:///{tmp / 'governance.db'}"
    settings = make_settings(tmp, url)
    settings.home.mkdir(parents=True, exist_ok=True)
    create_secret_key(settings.resolved_secret_key_file)
    generate_keypair(settings.resolved_signing_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    when = datetime.now(UTC)
    secrets = {
        name: identity.enroll(gov, name, actor="test-setup", now=when).secret
        for name in sorted(gov.policy.roster, key=lambda n: "admin" in gov.policy.roster[n])
    }
    _seed(gov)
    audit.anchor(gov, when)
    with server_process(settings) as (base, _process):
        found = Site(base, gov, People(base, secrets), settings)
        yield found
    for client in found.browsers.values():
        client.close()
    gov.close()
    if request.param == "postgres":
        databases.drop(url)


def seqs_of(page: httpx.Response) -> list[int]:
    """The seqs of the events a browser page lists, top to bottom."""
    return [int(seq) for seq in re.findall(r'<tr id="event-(\d+)">', page.text)]


def link(page: httpx.Response, rel: str) -> str | None:
    """The pager's `rel` link (next: older events, prev: newer), unescaped, or None."""
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page.text)
    return html.unescape(found.group(1)) if found else None


def test_the_audit_and_admin_pages_refuse_other_roles_naming_the_role(site):
    anonymous = httpx.get(f"{site.url}/audit?model=m-1", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/audit%3Fmodel%3Dm-1"

    alice = site.browser("alice")  # ml_engineer
    for path, role in (
        ("/audit", "auditor"),
        ("/audit/export.jsonl", "auditor"),
        ("/admin", "admin"),
    ):
        page = alice.get(path)
        assert page.status_code == 403, path
        assert page.headers["content-type"].startswith("text/html")
        assert f"alice does not hold the role {role}" in page.text
    assert site.browser("grace").get("/audit").status_code == 403  # an admin is no auditor
    heidi = site.browser("heidi")
    refused = heidi.get("/admin")
    assert refused.status_code == 403
    assert "heidi does not hold the role admin: the admin page refused" in refused.text
    assert "Admin</a>" not in heidi.get("/audit").text  # no link to what she may not open

    # A valid form from a non-admin changes nothing and is on record as refused.
    forged = heidi.post(
        "/admin/clients",
        data={"csrf": csrf_of(heidi.get("/audit")), "app": "intruder", "route": "predict"},
    )
    assert forged.status_code == 403
    assert "heidi does not hold the role admin: creating a client key for intruder" in forged.text
    assert [e for e in site.events("client.key_created") if e.details["app"] == "intruder"] == []
    refusals = [e for e in site.events("server.call_refused") if e.actor == "heidi"]
    assert {e.details["path"] for e in refusals} == {"/admin", "/admin/clients"}


def _walk(browser: httpx.Client, first: str, rel: str) -> tuple[list[int], list[str]]:
    """Follow one pager direction from `first`; every seq seen, and the links followed."""
    seen, followed, path = [], [], first
    while path is not None:
        page = browser.get(path)
        assert page.status_code == 200, page.text
        seen += seqs_of(page)
        followed.append(path)
        path = link(page, rel)
    return seen, followed


def test_keyset_pages_walk_every_filtered_event_once_both_ways(site):
    heidi = site.browser("heidi")
    with site.gov.store.read() as tx:
        expected = [e.seq for e in tx.audit.query(model="m-1")][::-1]  # newest first
    assert len(expected) == SEEDED // 2

    older, followed = _walk(heidi, "/audit?model=m-1", "next")
    assert older == expected  # no gap, no duplicate, newest first
    assert len(followed) == 3  # 130 events, 50 a page
    assert [p.split("before=")[1] for p in followed[1:]] == [str(expected[49]), str(expected[99])]
    last = heidi.get(followed[-1])
    assert link(last, "next") is None and seqs_of(last) == expected[100:]

    newer_first = link(last, "prev")
    assert newer_first == f"/audit?model=m-1&after={expected[100]}"
    newer, _ = _walk(heidi, newer_first, "prev")
    # Back to the newest page a page at a time: the same pages, each newest first.
    assert newer == expected[50:100] + expected[:50]
    assert link(heidi.get("/audit?model=m-1"), "prev") is None

    # Filters combine: actor and type narrow the model's events; a time range is [since, until).
    page = heidi.get("/audit?model=m-0&actor=bob&type=console.test_2")
    with site.gov.store.read() as tx:
        wanted = [
            e.seq
            for e in tx.audit.query(model="m-0", event_type="console.test_2")
            if e.actor == "bob"
        ]
    assert seqs_of(page) == wanted[::-1] and wanted
    since, until = SEED_START + timedelta(minutes=10), SEED_START + timedelta(minutes=20)
    timed = heidi.get(f"/audit?since={since:%Y-%m-%dT%H:%M}&until={until:%Y-%m-%dT%H:%M}")
    with site.gov.store.read() as tx:
        window = [e.seq for e in tx.audit.query(since=since, until=until)]
    assert seqs_of(timed) == window[::-1] and len(window) == 10

    bad = heidi.get("/audit?before=12x")
    assert bad.status_code == 422 and "before: &#39;12x&#39; is not an event number" in bad.text
    both = heidi.get("/audit?before=5&after=2")
    assert both.status_code == 422 and "give before or after, not both" in both.text


def test_event_details_render_as_text(site):
    page = site.browser("heidi").get("/audit?type=console.test_3&until=2026-11-01T00:08")
    assert seqs_of(page)  # the event with the script in its details is listed
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_export_is_the_audit_export_lines_and_verifies(site, tmp_path):
    heidi = site.browser("heidi")
    full = heidi.get("/audit/export.jsonl")
    assert full.status_code == 200
    assert full.headers["content-disposition"].startswith('attachment; filename="audit-')
    assert full.text == "".join(line + "\n" for line in audit.export_jsonl(site.gov))
    path = tmp_path / "export.jsonl"
    path.write_text(full.text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "governance.cli", "audit", "verify", "--export", str(path)],
        env=settings_env(site.settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = full.text.count("\n")
    assert done.stdout.startswith(f"export intact: {events} events verified, MACs checked with")

    part = heidi.get("/audit/export.jsonl?model=m-1&actor=alice")
    lines = part.text.splitlines()
    with site.gov.store.read() as tx:
        wanted = [e.seq for e in tx.audit.query(model="m-1") if e.actor == "alice"]
    assert [json.loads(line)["seq"] for line in lines] == wanted
    assert set(lines) <= set(full.text.splitlines())  # verbatim lines of the verified export
    assert sorted(slice_hashes(lines)) == wanted


def test_verify_now_is_a_csrf_post_recorded_and_shown_with_the_checkpoints(site):
    heidi = site.browser("heidi")
    page = heidi.get("/audit")
    assert "The trail has not been verified from the console yet." in page.text
    assert "1 in <code>" in page.text and ">valid<" in page.text and ">matches<" in page.text

    assert heidi.post("/audit/verify").status_code == 403
    assert heidi.post("/audit/verify", data={"csrf": "0" * 64}).status_code == 403
    assert site.events("audit.verified") == []

    done = heidi.post("/audit/verify", data={"csrf": csrf_of(page)})
    assert done.status_code == 303 and done.headers["location"] == "/audit#verification"
    [verified] = site.events("audit.verified")
    assert verified.actor == "heidi" and verified.details["ok"] is True
    assert verified.details["checkpoints"] == 1
    shown = heidi.get("/audit").text
    assert f"Intact: {verified.details['verified']} events verified with their MACs" in shown
    assert f"checked by heidi at {verified.ts[:19].replace('T', ' ')} UTC" in shown

    # A checkpoint file altered in the anchor directory: the next verification names it.
    anchors = site.settings.resolved_anchor_dir
    [signed] = list(anchors.glob("*.json"))
    forged = json.loads(signed.read_text()) | {"seq": 3}
    bad = anchors / "checkpoint-forged.json"
    bad.write_text(json.dumps(forged))
    try:
        heidi.post("/audit/verify", data={"csrf": csrf_of(page)})
        failed = site.events("audit.verified")[-1]
        assert failed.details["ok"] is False
        assert failed.details["problem"].startswith("SignatureInvalid: checkpoint ")
        assert "checkpoint-forged.json" in failed.details["problem"]
        again = heidi.get("/audit").text
        assert "Failed: SignatureInvalid: checkpoint" in again
        assert "checkpoint-forged.json" in again and "<strong>differs</strong>" in again
    finally:
        bad.unlink()


def test_admin_actions_go_through_the_cli_services_and_are_audited(site):
    grace = site.browser("grace")
    page = grace.get("/admin")
    assert page.status_code == 200
    assert re.search(r"<td>heidi</td>\s*<td>auditor</td>\s*<td>enrolled ", page.text)

    # Client keys: created with the CLI's service, shown once, listed without the key.
    created = grace.post(
        "/admin/clients",
        data={
            "csrf": csrf_of(page),
            "app": "billing",
            "endpoints": "*",
            "route": ["predict", "outcomes"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    key = re.search(r'id="new-key" class="secret" readonly value="([^"]+)"', created.text).group(1)
    [event] = [e for e in site.events("client.key_created") if e.details["app"] == "billing"]
    assert event.actor == "grace"
    assert event.details["routes"] == ["predict", "outcomes"] and event.details["endpoints"] == [
        "*"
    ]
    listed = grace.get("/admin").text
    key_id = event.details["key_id"]
    assert key not in listed and key not in json.dumps(
        site.events("client.key_created")[-1].details
    )
    assert f'<tr id="key-{key_id}">' in listed
    refused = grace.post("/admin/clients", data={"csrf": csrf_of(page), "app": "Bad App"})
    assert refused.status_code == 422 and "Bad App" in html.unescape(refused.text)

    revoked = grace.post(f"/admin/clients/{key_id}/revoke", data={"csrf": csrf_of(page)})
    assert revoked.status_code == 200 and f"revoked {key_id}" in revoked.text
    assert [e.details["key_id"] for e in site.events("client.key_revoked")] == [key_id]
    twice = grace.post(f"/admin/clients/{key_id}/revoke", data={"csrf": csrf_of(page)})
    assert (
        twice.status_code == 422
        and f"every client key of {key_id} is revoked already" in twice.text
    )

    # Sessions: erin's browser session is listed, then revoked; her cookie opens nothing.
    erin = site.browser("erin")
    assert erin.get("/inbox").status_code == 200
    assert re.search(r"<td>erin</td>", grace.get("/admin").text)
    ended = grace.post("/admin/people/erin/revoke-sessions", data={"csrf": csrf_of(page)})
    assert ended.status_code == 200 and "revoked 1 live session(s) of erin" in ended.text
    [revocation] = site.events("person.sessions_revoked")
    assert revocation.actor == "grace" and revocation.details == {"name": "erin", "count": 1}
    assert erin.get("/inbox").headers["location"] == "/login?next=/inbox"

    # Code locks: five wrong codes lock dave; the admin page shows and lifts the lock.
    for _ in range(5):
        wrong = httpx.post(
            f"{site.url}/v1/sessions", json={"name": "dave", "code": site.people.wrong("dave")}
        )
        assert wrong.status_code == 401
    locked = grace.get("/admin").text
    assert re.search(r"<td>dave</td>.*?locked until ", locked, re.S)
    assert "Unlock dave" in locked
    lifted = grace.post("/admin/people/dave/unlock", data={"csrf": csrf_of(page)})
    assert lifted.status_code == 200 and "unlocked the codes of dave" in lifted.text
    [unlock] = site.events("person.codes_unlocked")
    assert unlock.actor == "grace" and unlock.details["name"] == "dave"
    again = grace.post("/admin/people/dave/unlock", data={"csrf": csrf_of(page)})
    assert again.status_code == 409 and "codes for dave are not locked" in again.text

    no_csrf = grace.post("/admin/people/dave/revoke-sessions")
    assert no_csrf.status_code == 403 and "no CSRF token" in no_csrf.text
