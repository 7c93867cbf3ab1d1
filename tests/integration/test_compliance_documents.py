"""A model's compliance.yaml on real SQLite and PostgreSQL: registered in revisions by roster
people, its digest in the trail, refusals that write nothing, `audit verify` naming a row
written behind the service's back, and the CLI's commands (in-process and served)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from serverkit import thin
from test_audit_roles import app_gov, roles  # noqa: F401  (PostgreSQL roles)
from test_audit_trail import rows, tamper
from test_cli import People, fails, prepare_workdir
from test_server import team  # noqa: F401  (the module's server per backend)

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.compliance_document import ComplianceDocument, Provider, document_digest
from governance.domain.errors import (
    DocumentNotFound,
    DuplicateContent,
    ModelNotFound,
    NotInRoster,
    StateMismatch,
)
from governance.domain.models import ModelKind, RegisteredModel, RiskLevel
from governance.reports.compliance_yaml import load_compliance_yaml
from governance.services.registry import compliance_documents as documents
from governance.services.registry import versions
from governance.services.trust import audit
from governance.store.engine import create_store_engine
from governance.store.tables_registry import compliance_documents as table

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compliance" / "churn-classifier.yaml"
EVENT = "compliance.document_registered"


@pytest.fixture
def example() -> ComplianceDocument:
    return load_compliance_yaml(EXAMPLE.read_text())


@pytest.fixture
def churn(gov, now, churn_model) -> str:
    """churn registered (no version needed: the document is the model's)."""
    versions.register_model(gov, churn_model, actor="alice", now=now)
    return "churn"


def stored(gov) -> list[tuple]:
    """Every compliance_documents row: what a refusal must leave as it was."""
    with gov.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]


def test_each_registration_is_a_revision_with_its_digest_in_the_trail(gov, churn, now, example):
    first = documents.register_document(gov, churn, example, actor="alice", now=now)
    digest = document_digest(example)
    assert (first.revision, first.digest, first.created_by) == (1, digest, "alice")
    revised = example.model_copy(update={"hardware": "arm64 servers, 2 vCPU"})
    later = now + timedelta(days=1)
    second = documents.register_document(gov, churn, revised, actor="bob", now=later)
    assert second.revision == 2 and second.digest == document_digest(revised) != digest

    events = audit.history(gov, event_type=EVENT)
    assert [(e.model, e.version, e.actor, e.details) for e in events] == [
        ("churn", None, "alice", {"revision": 1, "digest": digest}),
        ("churn", None, "bob", {"revision": 2, "digest": second.digest}),
    ]
    latest = documents.latest_document(gov, churn)
    assert latest.revision == 2 and latest.document == revised and latest.created_at == later
    assert documents.stored_document_digest(latest) == second.digest
    assert [r.revision for r in documents.document_revisions(gov, churn)] == [1, 2]
    assert documents.document_revision(gov, churn, 1).document == example
    report = audit.verify(gov)
    assert report.chain.ok and report.state_rows == 1 + 2  # the model and two revisions


def test_a_document_identical_to_the_latest_is_refused_and_nothing_is_written(
    gov, churn, now, example
):
    documents.register_document(gov, churn, example, actor="alice", now=now)
    before, trail = stored(gov), rows(gov)
    # Key order and defaults stated explicitly do not make a different document.
    same = load_compliance_yaml(yaml.safe_dump(example.model_dump(mode="json"), sort_keys=True))
    with pytest.raises(DuplicateContent) as refused:
        documents.register_document(gov, churn, same, actor="bob", now=now)
    assert str(refused.value) == (
        f"churn's compliance document is identical to revision 1 (digest "
        f"{document_digest(example)[:12]}): nothing registered"
    )
    assert stored(gov) == before and rows(gov) == trail
    # Going back to an earlier text after a change is a new revision, not a duplicate.
    other = example.model_copy(update={"hardware": "arm64"})
    documents.register_document(gov, churn, other, actor="alice", now=now)
    assert documents.register_document(gov, churn, example, actor="alice", now=now).revision == 3


def test_an_unknown_model_or_a_person_outside_the_roster_is_refused(gov, churn, now, example):
    trail = rows(gov)
    with pytest.raises(ModelNotFound, match=r"^unknown model 'nope'$"):
        documents.register_document(gov, "nope", example, actor="alice", now=now)
    with pytest.raises(NotInRoster, match=r"^mallory is not in the policy roster$"):
        documents.register_document(gov, churn, example, actor="mallory", now=now)
    assert stored(gov) == [] and rows(gov) == trail
    assert documents.latest_document(gov, churn) is None
    with pytest.raises(DocumentNotFound) as missing:
        documents.document_revision(gov, churn)
    assert str(missing.value) == (
        "churn has no compliance document: register one with"
        " `governance compliance document churn FILE`"
    )


EDITS = {
    "row_added": (
        "INSERT INTO compliance_documents (model_id, revision, document, digest, created_by,"
        " created_at) SELECT model_id, 2, document, digest, 'mallory', created_at"
        " FROM compliance_documents WHERE revision = 1",
        "compliance_documents churn revision 2: the table has a row that no event accounts for",
    ),
    "row_removed": (
        "DELETE FROM compliance_documents",
        "compliance_documents churn revision 1: the events imply a row but the table has none",
    ),
    # A careful writer changes the digest column with the content: the digest is recomputed.
    "content_and_digest_edited": (
        "UPDATE compliance_documents SET document = :document, digest = :digest",
        "compliance_documents churn revision 1: its document digests to {edited} but the"
        " events imply {digest}",
    ),
    "content_edited": (
        "UPDATE compliance_documents SET document = :document",
        "compliance_documents churn revision 1: its document digests to {edited} (its digest"
        " column says {digest}) but the events imply {digest}",
    ),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_audit_verify_names_a_row_written_behind_the_services_back(case, gov, churn, now, example):
    documents.register_document(gov, churn, example, actor="alice", now=now)
    forged = example.model_copy(update={"provider": Provider(name="Someone Else Ltd")})
    statement, words = EDITS[case]
    edited, digest = document_digest(forged), document_digest(example)
    if gov.store.is_postgres:
        statement = statement.replace(":document", "CAST(:document AS JSON)")
    params = {"document": json.dumps(forged.model_dump(mode="json")), "digest": edited}
    tamper(gov, statement, params)
    with pytest.raises(StateMismatch) as info:
        audit.verify(gov)
    assert str(info.value) == words.format(edited=edited, digest=digest)


def test_the_app_role_appends_revisions_but_cannot_rewrite_them(roles, app_gov, now, example):  # noqa: F811
    documents.register_document(app_gov, "churn", example, actor="alice", now=now)
    before = stored(app_gov)
    engine = create_store_engine(roles.url(roles.app))
    try:
        for statement in (
            "UPDATE compliance_documents SET digest = 'x'",
            "DELETE FROM compliance_documents",
        ):
            with (
                pytest.raises(sa.exc.ProgrammingError, match="permission denied for table"),
                engine.begin() as conn,
            ):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    assert stored(app_gov) == before
    assert audit.verify(app_gov).chain.ok


BAD_DATE = "declaration:\n  reference: D-1\n  signed_by: Jan de Vries\n  signed_on: soon\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, capsys, database_url) -> Path:
    """churn 1.0.0 registered by alice, who is logged in; the example and bad files beside."""
    prepare_workdir(tmp_path, monkeypatch, model_bytes, People(capsys), database_url)
    args = ["1.0.0", "--artifact", "m1.skops", "--card", "card-1.0.0.yaml"]
    assert run(["models", "register", "churn", *args]) == 0
    (tmp_path / "compliance.yaml").write_text(EXAMPLE.read_text())
    revised = yaml.safe_load(EXAMPLE.read_text()) | {"hardware": "arm64"}
    (tmp_path / "revised.yaml").write_text(yaml.safe_dump(revised))
    (tmp_path / "bad-date.yaml").write_text(BAD_DATE)
    (tmp_path / "bad.yaml").write_text("provider:\n  name: [unclosed\n")
    capsys.readouterr()
    return tmp_path


def written() -> tuple[list[tuple], list[tuple]]:
    """The trail and the compliance_documents rows of the workdir's database."""
    gov = open_governance()
    try:
        return rows(gov), stored(gov)
    finally:
        gov.close()


def test_the_cli_registers_and_shows_revisions(workdir, capsys):
    digest = document_digest(load_compliance_yaml(EXAMPLE.read_text()))
    assert run(["compliance", "document", "churn", "compliance.yaml"]) == 0
    assert (
        capsys.readouterr().out == f"churn compliance document revision 1 (digest {digest[:12]})\n"
    )
    assert run(["compliance", "document", "churn", "revised.yaml"]) == 0
    assert capsys.readouterr().out.startswith("churn compliance document revision 2 (digest ")

    assert run(["compliance", "document-show", "churn", "--revision", "1"]) == 0
    shown = capsys.readouterr().out
    head = shown.splitlines()[:3]
    assert head[:2] == ["# churn compliance document revision 1", f"# digest {digest}"]
    assert head[2].startswith("# registered by alice at ") and head[2].endswith(" UTC")
    # The output is itself a compliance.yaml: the same document, the same digest.
    assert document_digest(load_compliance_yaml(shown)) == digest
    assert run(["compliance", "document-show", "churn"]) == 0
    latest = capsys.readouterr().out
    assert latest.startswith("# churn compliance document revision 2\n")
    assert load_compliance_yaml(latest).hardware == "arm64"
    assert run(["audit", "verify"]) == 0
    capsys.readouterr()

    gov = open_governance()
    try:
        tamper(
            gov, "UPDATE compliance_documents SET digest = :d WHERE revision = 1", {"d": "0" * 64}
        )
    finally:
        gov.close()
    assert run(["compliance", "document-show", "churn", "--revision", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1:3] == [
        f"# digest {digest}",
        f"# the stored digest column says {'0' * 64}: run `governance audit verify`",
    ]


CLI_ERRORS = {
    "unknown model": (
        ["document", "nope", "compliance.yaml"],
        "error: unknown model 'nope'",
    ),
    "invalid YAML": (
        ["document", "churn", "bad.yaml"],
        "error: bad.yaml: malformed compliance YAML: line 3, column 1: did not find expected"
        " ',' or ']' (while parsing a flow sequence at line 2, column 9)",
    ),
    "field that does not validate": (
        ["document", "churn", "bad-date.yaml"],
        "error: bad-date.yaml: compliance.yaml field declaration.signed_on: Input should be a"
        " valid date or datetime, input is too short",
    ),
    "missing file": (
        ["document", "churn", "missing.yaml"],
        "error: cannot read compliance document missing.yaml: No such file or directory",
    ),
    "duplicate": (
        ["document", "churn", "compliance.yaml"],
        "error: churn's compliance document is identical to revision 1 (digest {digest}):"
        " nothing registered",
    ),
    "no such revision": (
        ["document-show", "churn", "--revision", "9"],
        "error: churn has no compliance document revision 9",
    ),
    "show an unknown model": (["document-show", "nope"], "error: unknown model 'nope'"),
}


def test_the_cli_names_bad_input_in_one_line_and_writes_nothing(workdir, capsys):
    assert run(["compliance", "document", "churn", "compliance.yaml"]) == 0
    digest = document_digest(load_compliance_yaml(EXAMPLE.read_text()))[:12]
    before = written()
    for argv, line in CLI_ERRORS.values():
        assert fails(["compliance", *argv], capsys) == line.format(digest=digest)
    assert written() == before


def test_the_served_commands_upload_the_file_and_act_as_the_tokens_person(team):  # noqa: F811
    when = datetime.now(UTC)
    model = RegisteredModel(
        name="srv-comp", owner="alice", team="analytics", risk_level=RiskLevel.high,
        kind=ModelKind.sklearn,
    )  # fmt: skip
    versions.register_model(team.gov, model, actor="alice", now=when)
    env = team.login("alice")
    laptop = team.tmp / "laptops" / "alice"
    (laptop / "compliance.yaml").write_text(EXAMPLE.read_text())
    (laptop / "bad-date.yaml").write_text(BAD_DATE)
    digest = document_digest(load_compliance_yaml(EXAMPLE.read_text()))

    done = thin(env, "compliance", "document", "srv-comp", "compliance.yaml", cwd=laptop)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"srv-comp compliance document revision 1 (digest {digest[:12]})\n"
    [event] = [e for e in team.events(EVENT) if e.model == "srv-comp"]
    assert event.actor == "alice" and event.details == {"revision": 1, "digest": digest}

    shown = thin(env, "compliance", "document-show", "srv-comp")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"# srv-comp compliance document revision 1\n# digest {digest}")
    assert document_digest(load_compliance_yaml(shown.stdout)) == digest

    bad = thin(env, "compliance", "document", "srv-comp", "bad-date.yaml", cwd=laptop)
    assert bad.returncode == 1 and bad.stdout == ""
    [line] = bad.stderr.splitlines()
    assert line == (
        "error: bad-date.yaml: compliance.yaml field declaration.signed_on: Input should be a"
        " valid date or datetime, input is too short"
    )
    assert [e.details["revision"] for e in team.events(EVENT) if e.model == "srv-comp"] == [1]
