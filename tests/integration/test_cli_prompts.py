"""`governance prompts ...` on SQLite and PostgreSQL: the lines users read, and refusals.

The production pointer's history is seeded through the service (`move_pointer_in`) for a test's
starting state; the commands under test run in-process through `governance.cli.run`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_cli import People, fails, isolate, table_row
from test_cli_governed import NOT_LOGGED_IN, snapshot

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.prompts import PromptStatus
from governance.services.prompts import prompt_registry

# `[`, `:smile:` and a trailing space: what rich would eat or change if it printed the template.
TEMPLATE = "[INST] You support {{ product }} :smile: \nQuestion: {{ question }} [/INST]\n"
TEMPLATE_2 = TEMPLATE + "Be brief.\n"
TEMPLATE_3 = "[INST] You support {{ product }}.\nQuestion: {{ question }}\n"
APPROVERS = [
    {"approver": "carol", "role": "ml_lead"},
    {"approver": "dave", "role": "risk_officer"},
]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, people, database_url, capsys) -> Path:
    """An initialised governance home with template files on the test's backend; alice logged in."""
    isolate(tmp_path, monkeypatch)
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    assert run(["init"]) == 0
    people.login("alice")
    for name, text in (("v1.j2", TEMPLATE), ("v2.j2", TEMPLATE_2), ("v3.j2", TEMPLATE_3)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    capsys.readouterr()
    return tmp_path


def register_three(capsys) -> None:
    """support 1.0.0, 1.0.1 and 1.1.0, all drafts by alice."""
    for argv in (
        ["prompts", "register", "support", "--template", "v1.j2"],
        ["prompts", "register", "support", "--template", "v2.j2"],
        ["prompts", "register", "support", "--template", "v3.j2", "--bump", "minor"],
    ):
        assert run(argv) == 0
    capsys.readouterr()


def promote(*moves: tuple[str, datetime, str]) -> None:
    """Approve each version and move the pointer to it (at its time, under its request)."""
    gov = open_governance()
    try:
        with gov.store.write() as tx:
            for version, at, request in moves:
                tx.prompts.set_status("support", version, PromptStatus.approved, at)
                target = tx.prompts.get_version("support", version)
                prompt_registry.move_pointer_in(
                    tx,
                    target,
                    kind="promotion",
                    actor="alice",
                    now=at,
                    reason="promoted",
                    request_id=request,
                    approvers=APPROVERS,
                )
    finally:
        gov.close()


def test_register_submit_list_show_diff_and_render(workdir, capsys):
    argv = ["prompts", "register", "support", "--template", "v1.j2"]
    assert run([*argv, "--variables", "question, product", "--description", "first [try]"]) == 0
    assert capsys.readouterr().out == (
        f"registered support@1.0.0 (draft) sha256:{sha(TEMPLATE)[:12]} "
        "variables: product, question\n"
    )
    assert run(["prompts", "register", "support", "--template", "v2.j2"]) == 0
    assert capsys.readouterr().out == (
        f"registered support@1.0.1 (draft) sha256:{sha(TEMPLATE_2)[:12]} "
        "variables: product, question\n"
    )
    argv = ["prompts", "register", "support", "--template", "v3.j2", "--bump", "minor"]
    assert run(argv) == 0
    assert capsys.readouterr().out.startswith("registered support@1.1.0 (draft) sha256:")
    (workdir / "plain.j2").write_text("Say hello.\n")
    assert run(["prompts", "register", "greeting", "--template", "plain.j2"]) == 0
    assert capsys.readouterr().out.endswith(" variables: none\n")

    assert run(["prompts", "submit", "support@1.0.1"]) == 0
    assert capsys.readouterr().out == "support@1.0.1 is now in review\n"
    assert run(["prompts", "submit", "support"]) == 0
    assert capsys.readouterr().out == "support@1.1.0 is now in review\n"

    assert run(["prompts", "list"]) == 0
    out = capsys.readouterr().out
    header = [cell.strip() for cell in out.splitlines()[1].strip("┃ ").split("┃")]
    assert header == ["prompt", "versions", "latest", "status", "production"]
    assert table_row(out, "support") == ["support", "3", "1.1.0", "review", "-"]
    assert table_row(out, "greeting") == ["greeting", "1", "1.0.0", "draft", "-"]

    assert run(["prompts", "show", "support@1.0.0"]) == 0
    out = capsys.readouterr().out
    header, template = out.split("\n\n", 1)
    created = header.splitlines()[2]
    assert created.startswith("created:     20") and created.endswith("+00:00 by alice")
    assert header.splitlines()[:2] + header.splitlines()[3:] == [
        "prompt:      support@1.0.0",
        "status:      draft",
        "variables:   product, question",
        f"digest:      sha256:{sha(TEMPLATE)}",
        "production:  no (no production version yet)",
        "description: first [try]",
    ]
    assert template == TEMPLATE
    assert run(["prompts", "show", "support", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["prompt_id"], shown["version"], shown["status"]) == ("support", "1.1.0", "review")
    assert (shown["template"], shown["template_digest"]) == (TEMPLATE_3, sha(TEMPLATE_3))
    assert shown["variables"] == ["product", "question"] and shown["created_by"] == "alice"

    assert run(["prompts", "diff", "support", "1.0.0", "1.0.1"]) == 0
    assert capsys.readouterr().out == (
        "--- support@1.0.0\n"
        "+++ support@1.0.1\n"
        "@@ -1,2 +1,3 @@\n"
        " [INST] You support {{ product }} :smile: \n"
        " Question: {{ question }} [/INST]\n"
        "+Be brief.\n"
    )
    assert run(["prompts", "diff", "support", "1.0.1", "1.0.1"]) == 0
    assert capsys.readouterr().out == "support@1.0.1 and support@1.0.1 have the same template\n"

    argv = ["prompts", "render", "support@1.0.0", "--var", "product=Acme [pro]"]
    assert run([*argv, "--var", "question=a=b?"]) == 0
    assert capsys.readouterr().out == (
        "[INST] You support Acme [pro] :smile: \nQuestion: a=b? [/INST]\n"
    )
    assert run(["prompts", "render", "greeting"]) == 0
    assert capsys.readouterr().out == "Say hello.\n"


def test_history_at_show_production_and_rollback(workdir, capsys, people):
    register_three(capsys)
    assert run(["prompts", "history", "support"]) == 0
    assert capsys.readouterr().out == "support has never been in production\n"
    t1 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    t2 = t1 + timedelta(hours=1)
    promote(("1.0.0", t1, "req-1"), ("1.1.0", t2, "req-2"))

    assert run(["prompts", "show", "support@production"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prompt:      support@1.1.0" and out[1] == "status:      approved"
    assert out[5] == "production:  yes"
    assert run(["prompts", "show", "support@1.0.0"]) == 0
    assert "production:  no (production is support@1.1.0)" in capsys.readouterr().out

    # A time without a zone is UTC; `Z` is accepted.
    naive = (t1 + timedelta(minutes=30)).replace(tzinfo=None).isoformat()
    assert run(["prompts", "at", "support", "--time", naive]) == 0
    assert capsys.readouterr().out == (
        f"support@1.0.0 was production at {naive}+00:00: moved by alice "
        "(promotion, request req-1), approved by carol (ml_lead), dave (risk_officer)\n"
    )
    zulu = (t2 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run(["prompts", "at", "support", "--time", zulu]) == 0
    assert capsys.readouterr().out.startswith(
        f"support@1.1.0 was production at {zulu[:-1]}+00:00: moved by alice "
        "(promotion, request req-2)"
    )
    assert run(["prompts", "at", "support", "--time", zulu, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["version"], answer["previous_version"], answer["kind"]) == (
        "1.1.0",
        "1.0.0",
        "promotion",
    )
    assert answer["request_id"] == "req-2" and answer["approvers"] == APPROVERS
    assert datetime.fromisoformat(answer["moved_at"]) == t2

    people.login("carol")
    argv = ["prompts", "rollback", "support", "--to", "1.0.0", "--reason", "bad [tone]"]
    assert run(argv) == 0
    assert capsys.readouterr().out == "support production: 1.1.0 -> 1.0.0 (rollback by carol)\n"
    assert run(["prompts", "at", "support", "--time", datetime.now(UTC).isoformat()]) == 0
    assert capsys.readouterr().out.endswith(
        ": moved by carol (rollback), approved by carol (ml_lead), dave (risk_officer)\n"
    )

    assert run(["prompts", "history", "support"]) == 0
    out = capsys.readouterr().out
    header = [cell.strip() for cell in out.splitlines()[1].strip("┃ ").split("┃")]
    assert header == ["time", "version", "previous", "kind", "moved by", "approvers", "reason"]
    approvers = "carol (ml_lead), dave (risk_officer)"
    assert table_row(out, t1.isoformat()) == [
        t1.isoformat(),
        "1.0.0",
        "-",
        "promotion (request req-1)",
        "alice",
        approvers,
        "promoted",
    ]
    assert table_row(out, t2.isoformat())[1:4] == ["1.1.0", "1.0.0", "promotion (request req-2)"]
    rolled = [line for line in out.splitlines() if "rollback" in line]
    assert len(rolled) == 1
    cells = [cell.strip() for cell in rolled[0].strip("│ ").split("│")]
    assert cells[1:] == ["1.0.0", "1.1.0", "rollback", "carol", approvers, "bad [tone]"]
    assert run(["prompts", "list"]) == 0
    assert table_row(capsys.readouterr().out, "support") == [
        "support",
        "3",
        "1.1.0",
        "approved",
        "1.0.0",
    ]


def test_refusals_are_one_line_and_change_nothing(workdir, capsys, people):
    register_three(capsys)
    (workdir / "broken.j2").write_text("Hello {{ product \n")
    (workdir / "escape.j2").write_text("{{ ''.__class__ }}\n")
    (workdir / "latin1.j2").write_bytes("Caf\xe9 {{ product }}\n".encode("latin-1"))
    (workdir / "empty.j2").write_text("  \n")
    register = ["prompts", "register", "support", "--template"]
    render = ["prompts", "render", "support@1.0.0"]
    t1 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    before_any = (t1 - timedelta(hours=1)).isoformat()
    cases: dict[tuple[str, ...], str] = {
        (*register, "broken.j2"): "error: template does not parse: line 1: unexpected end of "
        "template, expected 'end of print statement'.",
        (*register, "v1.j2", "--variables", "product"): (
            "error: template variables do not match: used but not declared: question"
        ),
        (*register, "v1.j2", "--variables", "product,question,tone"): (
            "error: template variables do not match: declared but not used: tone"
        ),
        (*register, "v1.j2", "--variables", "product,2x"): ("error: invalid variable name(s): 2x"),
        (*register, "escape.j2"): (
            "error: template reaches for unsafe attribute(s) __class__: the sandbox refuses them"
        ),
        (*register, "missing.j2"): (
            "error: cannot read template missing.j2: No such file or directory"
        ),
        (*register, "latin1.j2"): (
            "error: template latin1.j2 is not UTF-8 text (byte 3: invalid continuation byte)"
        ),
        (*register, "empty.j2"): "error: template is empty",
        (*register, "v3.j2"): (
            "error: support: the template is identical to the latest version 1.1.0"
        ),
        (*register, "v1.j2", "--bump", "huge"): (
            "error: unknown bump 'huge': expected major, minor or patch"
        ),
        ("prompts", "register", "Support!", "--template", "v1.j2"): (
            "error: invalid prompt id 'Support!': use lower-case letters, digits, '.', '_' or '-'"
        ),
        ("prompts", "render", "support@1.0.0", "--var", "product"): (
            "error: --var 'product' is not NAME=VALUE"
        ),
        ("prompts", "render", "support@1.0.0", "--var", "product=a", "--var", "product=b"): (
            "error: --var 'product' is given more than once"
        ),
        ("prompts", "render", "support@1.0.0", "--var", "product=Acme"): (
            "error: support@1.0.0 needs variable(s) question: missing"
        ),
        (*render, "--var", "product=a", "--var", "question=b", "--var", "tone=c"): (
            "error: support@1.0.0 has no variable(s) tone; it takes product, question"
        ),
        ("prompts", "render", "support@production"): (
            "error: support@1.0.0 needs variable(s) product, question: missing"
        ),
        ("prompts", "show", "support@9.9.9"): (
            "error: unknown prompt version support@9.9.9: it has 1.0.0, 1.0.1, 1.1.0"
        ),
        ("prompts", "diff", "support", "1.0.0", "7.0.0"): (
            "error: unknown prompt version support@7.0.0: it has 1.0.0, 1.0.1, 1.1.0"
        ),
        ("prompts", "at", "support", "--time", "yesterday"): (
            "error: --time 'yesterday' is not an ISO 8601 time"
        ),
        ("prompts", "at", "support", "--time", before_any): (
            f"error: support had no production version at {before_any}"
        ),
        ("prompts", "rollback", "support", "--to", "1.0.0"): (
            "error: alice does not hold the role ml_lead: prompt rollback refused"
        ),
    }
    for verb in ("show", "history", "render", "submit"):
        cases[("prompts", verb, "nope")] = "error: unknown prompt 'nope'"
    cases[("prompts", "at", "nope", "--time", before_any)] = "error: unknown prompt 'nope'"
    cases[("prompts", "rollback", "nope", "--to", "1.0.0")] = cases[
        ("prompts", "rollback", "support", "--to", "1.0.0")
    ]
    assert run(["prompts", "submit", "support@1.0.1"]) == 0
    cases[("prompts", "submit", "support@1.0.1")] = (
        "error: support@1.0.1: illegal status change review -> review"
    )
    error = fails(["prompts", "show", "support@production"], capsys)
    assert error == "error: support has no production version yet"
    promote(("1.0.0", t1, "req-1"))
    capsys.readouterr()
    before = snapshot(workdir)
    for argv, line in cases.items():
        assert fails(list(argv), capsys) == line, argv
    assert snapshot(workdir) == before

    people.login("carol")
    before = snapshot(workdir)
    carol_cases = {
        ("prompts", "rollback", "support", "--to", "1.0.1"): (
            "error: cannot roll support back to 1.0.1: it was never approved (status review)"
        ),
        ("prompts", "rollback", "support", "--to", "1.1.0"): (
            "error: cannot roll support back to 1.1.0: it was never approved (status draft)"
        ),
        ("prompts", "rollback", "support", "--to", "1.0.0"): (
            "error: support@1.0.0 is already in production"
        ),
        ("prompts", "rollback", "nope", "--to", "1.0.0"): (
            "error: unknown prompt version nope@1.0.0: no such prompt"
        ),
    }
    for argv, line in carol_cases.items():
        assert fails(list(argv), capsys) == line, argv
    assert snapshot(workdir) == before

    people.logout()
    before = snapshot(workdir)
    for argv in (
        [*register, "v1.j2", "--bump", "major"],
        ["prompts", "submit", "support@1.1.0"],
        ["prompts", "rollback", "support", "--to", "1.0.0"],
    ):
        assert fails(argv, capsys) == NOT_LOGGED_IN
    assert snapshot(workdir) == before
