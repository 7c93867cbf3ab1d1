"""The console's read pages over real HTTP: the server app under uvicorn on 127.0.0.1.

One world per backend for the module (tests/consoleworld.py); each person browses with their
own session cookie.
"""

from __future__ import annotations

import html
import io
import re
import zipfile

import pytest
from conftest import BACKENDS
from consolekit import Browsers, console_thread
from consoleworld import CARD_SCRIPT, DASH, REPORT, seeded

from governance.server.console.csrf import csrf_token
from governance.server.console.pages import models as models_page


class World:
    """The seeded governance, its console URL, everyone's browser and the facts to expect."""

    def __init__(self, gov, url, browse, run, request_id) -> None:
        self.gov, self.url, self.browse = gov, url, browse
        self.run, self.request_id = run, request_id


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory, model_bytes):
    """A seeded governance per backend and the server app serving it on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "postgres":
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
    else:
        url = f"sqlite:///{tmp / 'governance.db'}"
    with (
        seeded(url, tmp, model_bytes) as (gov, secrets, (run, request_id)),
        console_thread(gov) as base,
    ):
        browse = Browsers(gov, base, secrets)
        yield World(gov, base, browse, run, request_id)
        browse.close()
    if request.param == "postgres":
        databases.drop(url)


def cells(page: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table with this id."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table #{table_id}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(0), re.S).group(1)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def diff_spans(page: str, pre_id: str) -> list[tuple[str, str]]:
    """The (class, unescaped text) of each line of a rendered diff."""
    block = re.search(rf'<pre class="diff" id="{pre_id}">(.*?)</pre>', page, re.S).group(1)
    return [
        (kind, html.unescape(text))
        for kind, text in re.findall(r'<span class="(\w+)">(.*?)</span>', block, re.S)
    ]


def get(world, person: str, path: str, **kwargs):
    """GET `path` in `person`'s browser."""
    return world.browse(person).get(path, **kwargs)


def test_the_models_list_filters_by_stage_risk_and_owner(world):
    page = get(world, "carol", "/models")
    assert page.status_code == 200
    assert re.findall(r'<tr class="model-row" data-model="([^"]+)"', page.text) == [
        "churn",
        "fraud",
    ]
    rows = cells(page.text, "models-list")
    assert rows[0][:4] == ["churn", "high", "alice", "analytics"]
    assert rows[0][5] == "1.1.0"
    assert rows[1][:4] == ["fraud", "low", "bob", "risk"]
    low = get(world, "carol", "/models?risk=low").text
    assert re.findall(r'data-model="([^"]+)"', low) == ["fraud"]
    live = get(world, "carol", "/models?stage=production&owner=alice").text
    assert re.findall(r'data-model="([^"]+)"', live) == ["churn"]
    assert [r[4] for r in cells(live, "models-list")] == ["1.1.0 production"]
    fragment = get(world, "carol", "/models?owner=bob", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="models-table">')
    assert "<html" not in fragment.text
    assert re.findall(r'data-model="([^"]+)"', fragment.text) == ["fraud"]
    bad = get(world, "carol", "/models?stage=shipped")
    assert bad.status_code == 422
    assert "unknown stage &#39;shipped&#39;" in bad.text


def test_the_models_list_pages_through_many_models_keeping_the_filters(world, monkeypatch):
    monkeypatch.setattr(models_page, "PAGE_SIZE", 1)
    first = get(world, "carol", "/models?risk=&owner=").text
    assert re.findall(r'data-model="([^"]+)"', first) == ["churn"]
    assert "2 models, page 1 of 2" in first
    assert 'href="/models?stage=&amp;risk=&amp;owner=&amp;page=2" ' in first
    second = get(world, "carol", "/models?page=2").text
    assert re.findall(r'data-model="([^"]+)"', second) == ["fraud"]
    beyond = get(world, "carol", "/models?page=9").text
    assert re.findall(r'data-model="([^"]+)"', beyond) == ["fraud"]


def test_the_model_page_shows_stages_aliases_and_the_endpoints_serving_each_version(world):
    page = get(world, "dave", "/models/churn")
    assert page.status_code == 200
    assert [r[:4] for r in cells(page.text, "versions")] == [
        ["1.2.0", "development", "", ""],
        ["1.1.0", "production", "champion", "churn-api 100% (stable)"],
        ["1.0.0", "deprecated", "", ""],
    ]


def test_the_version_page_shows_evaluation_lineage_approvals_and_history(world):
    page = get(world, "erin", "/models/churn/1.1.0")
    assert page.status_code == 200
    text = page.text
    result = world.run.result
    metrics = cells(text, "metrics")
    for row, (name, value) in zip(metrics, sorted(result.metrics.items()), strict=False):
        assert row[0] == name and row[1] == f"{value:.4f}"
        assert row[2] == f"{result.baseline[name]:.4f}"
        assert row[3] == f"{value - result.baseline[name]:+.4f}"
    assert "compared with production 1.0.0" in text
    assert [r[0] for r in cells(text, "fairness")] == ["site"]
    assert f"holdout <code>{world.run.dataset_digest}</code>" in text
    assert "pipelines/churn.py" in text and "snapshot-1.1.0" in text
    decisions = cells(text, "decisions")
    assert [(r[2], r[3], r[4]) for r in decisions] == [
        ("carol", "ml_lead", "approve"),
        ("dave", "risk_officer", "approve"),
        ("erin", "legal", "approve"),
    ]
    assert all(r[1] == "2026-11-23T12:03" for r in decisions)
    assert all(
        r[5]
        == "one-time code (TOTP, RFC 6238); authenticator enrolled 2026-11-22 "
        f"(event {r[5].split('(event ')[1]}"
        and r[6] == world.request_id
        for r in decisions
    )
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in text
    assert 'aria-label="Lifecycle timeline"' in text
    whats = [r[3] for r in cells(text, "lifecycle")]
    assert "stage changed: staging → production" in whats
    assert "decision: approve as legal" in whats
    assert "evaluated: gate passed" in whats


def test_card_text_holding_a_script_renders_as_text(world):
    page = get(world, "alice", "/models/churn/1.2.0")
    assert page.status_code == 200
    assert "<script>alert(" not in page.text
    assert "&lt;script&gt;alert(&#39;card&#39;)&lt;/script&gt; is shown as text" in page.text


def test_compare_puts_metrics_side_by_side_and_diffs_the_cards(world):
    page = get(world, "carol", "/models/churn/compare?a=1.1.0&b=1.2.0")
    assert page.status_code == 200
    metrics = cells(page.text, "compare-metrics")
    # 1.2.0 was never evaluated and registered no metrics: its column is empty.
    figures = sorted(world.run.result.metrics.items())
    assert metrics == [[name, f"{value:.4f}", DASH, DASH] for name, value in figures]
    lines = diff_spans(page.text, "card-diff")
    assert lines[0] == ("hunk", "--- churn@1.1.0")
    assert lines[1] == ("hunk", "+++ churn@1.2.0")
    added = [text for kind, text in lines if kind == "add"]
    assert f"+- {CARD_SCRIPT}" in added
    assert "<script>alert(" not in page.text
    assert get(world, "carol", "/models/churn/compare?a=1.1.0").status_code == 422


def test_the_endpoint_page_charts_each_versions_weight_and_answers_what_served_at_t(world):
    page = get(world, "heidi", "/endpoints/churn-api")
    assert page.status_code == 200
    text = page.text
    svg = re.search(r'<svg[^>]*aria-label="Routing weights over time".*?</svg>', text, re.S)
    assert svg
    assert re.findall(r'<polyline data-version="([^"]+)"', svg.group(0)) == ["1.0.0", "1.1.0"]
    assert [r[:3] for r in cells(text, "specs")] == [
        ["2", "2026-11-23 12:04:00", "1.1.0 100%"],
        ["1", "2026-11-23 12:01:00", "1.0.0 100%"],
    ]
    before = get(world, "heidi", "/endpoints/churn-api?at=2026-11-23T12:02:00Z").text
    assert [r[:4] for r in cells(before, "served-at")] == [
        ["1.0.0", "100%", "stable", "no approval on record"]
    ]
    after = get(world, "heidi", "/endpoints/churn-api?at=2026-11-23T13:00")
    [row] = cells(after.text, "served-at")
    assert row[:3] == ["1.1.0", "100%", "stable"]
    assert row[3] == (
        "production: carol (ml_lead), dave (risk_officer), erin (legal) on 2026-11-23 12:04"
    )
    assert row[4] == world.gov.policy.version[:12]
    early = get(world, "heidi", "/endpoints/churn-api?at=2026-11-23T11:00:00Z")
    assert early.status_code == 422
    assert "endpoint &#39;churn-api&#39; did not exist at 2026-11-23T11:00:00+00:00" in early.text
    assert cells(text, "rollouts-table") == [
        ["r-1", "1.1.0", "canary", "completed", "10→100%", "10%: pass; 100%: pass"]
    ]
    assert cells(text, "experiments-table") == [
        ["x-1", "a → 1.0.0 50%, b → 1.1.0 50%", "finished", "2026-11-23 12:04 by carol",
         "b wins on accuracy"]
    ]  # fmt: skip
    listing = get(world, "heidi", "/endpoints").text
    assert re.findall(r'data-endpoint="([^"]+)"', listing) == ["churn-api"]


def test_the_prompt_page_diffs_versions_and_tells_the_pointer_at_t(world):
    listing = get(world, "bob", "/prompts").text
    assert re.findall(r'data-prompt="([^"]+)"', listing) == ["support"]
    page = get(world, "bob", "/prompts/support")
    assert page.status_code == 200
    assert re.findall(r'<tr class="prompt-version" data-version="([^"]+)"', page.text) == [
        "1.0.1",
        "1.0.0",
    ]
    lines = diff_spans(page.text, "template-diff")
    assert [t for k, t in lines if k == "add"] == ["+<script>alert('prompt')</script>"]
    assert "<script>alert(" not in page.text
    [move] = cells(page.text, "moves")
    assert move[:5] == ["2026-11-23 13:00:00", "promotion", "1.0.0", DASH, "test-setup"]
    held = get(world, "bob", "/prompts/support?at=2026-11-23T15:00:00Z").text
    assert "<strong>support@1.0.0</strong> was in production" in held
    early = get(world, "bob", "/prompts/support?at=2026-11-23T12:00:00Z")
    assert early.status_code == 422
    assert "support had no production version at 2026-11-23T12:00:00+00:00" in early.text


def test_monitoring_shows_the_latest_verdict_and_opens_the_report_sandboxed(world):
    page = get(world, "frank", "/monitoring")
    assert page.status_code == 200
    assert 'data-version="churn@1.0.0"' in page.text
    assert '<span class="verdict">retire</span>' in page.text
    assert "3 of 30 columns drifted" in page.text
    report = get(world, "frank", "/monitoring/churn/1.0.0/report")
    assert report.status_code == 200
    assert report.content == REPORT
    csp = report.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts; default-src 'none'; ")
    assert "allow-same-origin" not in csp and "connect-src" not in csp
    assert report.headers["x-content-type-options"] == "nosniff"
    missing = get(world, "frank", "/monitoring/churn/1.1.0/report")
    assert missing.status_code == 404
    assert "churn@1.1.0 has not been audited yet" in missing.text


def test_only_an_auditor_gets_the_pack_button_and_builds_the_pack(world):
    auditor = get(world, "heidi", "/compliance").text
    engineer = get(world, "alice", "/compliance").text
    assert [r[0] for r in cells(engineer, "scores")] == ["churn high-risk (Annex III)", "fraud"]
    assert 'action="/compliance/churn/1.1.0/pack"' in auditor
    assert "/pack" not in engineer
    token = re.search(r'name="csrf" value="([^"]+)"', auditor).group(1)
    with world.gov.store.read() as tx:
        before = len(tx.audit.query(event_type="compliance.pack_built"))
    forged = world.browse("heidi").post("/compliance/churn/1.1.0/pack", data={"csrf": "x"})
    assert forged.status_code == 403
    alice_token = csrf_token(world.gov, world.browse("alice").headers["cookie"].split("=", 1)[1])
    refused = world.browse("alice").post("/compliance/churn/1.1.0/pack", data={"csrf": alice_token})
    assert refused.status_code == 403
    assert "alice does not hold the role auditor" in refused.text
    with world.gov.store.read() as tx:
        assert len(tx.audit.query(event_type="compliance.pack_built")) == before
    built = world.browse("heidi").post("/compliance/churn/1.1.0/pack", data={"csrf": token})
    assert built.status_code == 200
    assert built.headers["content-disposition"] == (
        'attachment; filename="churn-1.1.0-annex-iv.zip"'
    )
    names = zipfile.ZipFile(io.BytesIO(built.content)).namelist()
    assert "churn-1.1.0/manifest.json" in names
    with world.gov.store.read() as tx:
        [*_, event] = tx.audit.query(event_type="compliance.pack_built")
    assert (event.actor, event.model, event.version) == ("heidi", "churn", "1.1.0")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/models/nomodel", "unknown model &#39;nomodel&#39;"),
        ("/models/churn/9.9.9", "9.9.9"),
        ("/models/churn/compare?a=1.1.0&b=9.9.9", "9.9.9"),
        ("/endpoints/noendpoint", "noendpoint"),
        ("/prompts/noprompt", "unknown prompt &#39;noprompt&#39;"),
    ],
)
def test_unknown_things_answer_404_naming_them(world, path, named):
    answer = get(world, "carol", path)
    assert answer.status_code == 404
    assert named in answer.text


def test_pages_need_a_session(world):
    import httpx

    answer = httpx.get(f"{world.url}/models/churn/1.1.0", follow_redirects=False)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"] == "/login?next=/models/churn/1.1.0"
