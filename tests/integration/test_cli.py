"""The `governance` CLI end to end on a real SQLite file: output, exit codes, refusals."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from datetime import datetime
from pathlib import Path

import pyotp
import pytest
import yaml
from seeding import seed_stage

from governance.bootstrap import open_governance
from governance.cli import run
from governance.domain.models import LifecycleStage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cards" / "churn-classifier.yaml"
SECRET_LINE = "secret for manual entry: "


class People:
    """Everyone's authenticator app, enrolled through the CLI, and switching who is logged in."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys
        self.apps: dict[str, pyotp.TOTP] = {}
        self.last_step: dict[str, int] = {}

    def code(self, name: str) -> str:
        """A code `name` has not used yet (enrolling them first if they are not)."""
        if name not in self.apps:
            self.capsys.readouterr()
            assert run(["people", "enroll", name]) == 0
            out = self.capsys.readouterr().out.splitlines()
            self.apps[name] = pyotp.TOTP(out[-1].removeprefix(SECRET_LINE))
        # A code is accepted once per person and time step: a second login of the same person
        # in the same 30 s step uses the next step's code (accepted: ±1 step).
        step = max(int(time.time()) // 30, self.last_step.get(name, -1) + 1)
        self.last_step[name] = step
        return self.apps[name].at(step * 30)

    def login(self, name: str) -> None:
        """End whoever's session is open and log in as `name`, as a person would."""
        assert run(["logout"]) == 0
        assert run(["login", name, "--code", self.code(name)]) == 0
        self.capsys.readouterr()

    def logout(self) -> None:
        """End the session: nobody is logged in."""
        assert run(["logout"]) == 0
        self.capsys.readouterr()


def isolate(tmp_path: Path, monkeypatch) -> None:
    """Work in tmp_path with no GOVERNANCE_* setting from outside; key and session under it."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("GOVERNANCE_")]:
        if not key.startswith("GOVERNANCE_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("GOVERNANCE_SESSION_FILE", str(tmp_path / "config" / "session.json"))
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY_FILE", str(tmp_path / "keys" / "secret.key"))


def prepare_workdir(
    tmp_path: Path, monkeypatch, model_bytes, people: People, database_url: str = ""
) -> Path:
    """Initialise a governance home in tmp_path (cwd) with model files and cards; log in alice.

    Every GOVERNANCE_* setting comes from here: the secret key and the session file live under
    tmp_path, the database is .governance/governance.db unless `database_url` names another.
    """
    isolate(tmp_path, monkeypatch)
    if database_url:
        monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    for i, data in enumerate(model_bytes, start=1):
        (tmp_path / f"m{i}.skops").write_bytes(data)
    (tmp_path / "m.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    card = yaml.safe_load(EXAMPLE.read_text())
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        text = yaml.safe_dump({**card, "name": "churn", "version": version})
        (tmp_path / f"card-{version}.yaml").write_text(text)
    assert run(["init"]) == 0
    assert (tmp_path / "keys" / "secret.key").stat().st_size == 32
    people.login("alice")
    return tmp_path


def seed(version: str, *stages: LifecycleStage, at: datetime | None = None) -> None:
    """Move a churn version through `stages` (at `at`, default now) for a test's starting state."""
    gov = open_governance()
    try:
        for stage in stages:
            seed_stage(gov, "churn", version, stage, now=at)
    finally:
        gov.close()


@pytest.fixture
def people(capsys) -> People:
    return People(capsys)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes, people) -> Path:
    """An initialised governance home with model files and matching cards; alice logged in."""
    return prepare_workdir(tmp_path, monkeypatch, model_bytes, people)


def register_first() -> int:
    """Register churn 1.0.0 from the workdir's files, as the logged-in person."""
    args = ["1.0.0", "--artifact", "m1.skops", "--card", "card-1.0.0.yaml"]
    return run(["models", "register", "churn", *args])


def state(workdir: Path) -> tuple[bytes, list[str]]:
    """The audit chain, versions and artifact files: what refusals must keep."""
    import sqlite3

    db = workdir / ".governance" / "governance.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq").fetchall()
        versions = conn.execute("SELECT version, stage FROM model_versions ORDER BY id").fetchall()
    files = sorted(
        p.name for p in (workdir / ".governance" / "artifacts").rglob("*") if p.is_file()
    )
    return repr((rows, versions)).encode(), files


def fails(argv: list[str], capsys) -> str:
    """Run a command that must exit 1 with one `error:` line and nothing on stdout; the line."""
    capsys.readouterr()
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.rstrip("\n")
    assert len(err.splitlines()) == 1
    return err


def table_row(out: str, first_cell: str) -> list[str]:
    """The cells of the rich table row whose first cell is `first_cell`."""
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{out}")


def test_register_show_and_verify(workdir, capsys):
    assert register_first() == 0
    digest = hashlib.sha256((workdir / "m1.skops").read_bytes()).hexdigest()
    assert capsys.readouterr().out == f"registered churn@1.0.0 (development) sha256:{digest}\n"
    seed("1.0.0", LifecycleStage.staging, LifecycleStage.production)
    assert run(["models", "alias", "churn", "champion", "1.0.0"]) == 0
    assert capsys.readouterr().out == "churn@champion -> 1.0.0\n"
    assert run(["models", "show", "churn@champion"]) == 0
    shown = capsys.readouterr().out
    assert table_row(shown, "stage") == ["stage", "production"]
    assert table_row(shown, "aliases") == ["aliases", "champion"]
    assert table_row(shown, "registered")[1].endswith(" by alice")
    assert run(["models", "list", "--stage", "production"]) == 0
    listed = table_row(capsys.readouterr().out, "churn")
    assert listed[:6] == ["churn", "1.0.0", "production", "high", "maria.okafor", "alice"]
    assert run(["models", "card", "churn", "1.0.0", "--format", "md"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "# Model card: churn 1.0.0"
    assert run(["models", "verify", "churn", "1.0.0"]) == 0
    assert capsys.readouterr().out == (
        "churn@1.0.0: artifact digest matches, loads as sklearn.pipeline.Pipeline\n"
    )
    assert run(["models", "history", "churn"]) == 0
    history = capsys.readouterr().out
    assert table_row(history, "8")[2:5] == ["model.alias_set", "1.0.0", "alice"]
    assert run(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("audit trail intact: 8 events verified")
    assert run(["audit", "export", "--format", "jsonl", "--out", "trail.jsonl"]) == 0
    assert len((workdir / "trail.jsonl").read_text().splitlines()) == 8  # policy.loaded first


BAD_INPUTS = {
    "invalid semver": (
        ["1.0", "m2.skops", "card-1.1.0.yaml"],
        "error: invalid semantic version '1.0': expected MAJOR.MINOR.PATCH",
    ),
    "duplicate version": (
        ["1.0.0", "m2.skops", "card-1.0.0.yaml"],
        "error: churn@1.0.0 is already registered",
    ),
    "untrusted pickle": (
        ["1.1.0", "m.pkl", "card-1.1.0.yaml"],
        "error: not a skops file: it looks like a pickle, and pickles are never loaded; "
        "save the model with skops.io.dump",
    ),
    "malformed card": (
        ["1.1.0", "m2.skops", "bad.yaml"],
        "error: bad.yaml: malformed model card YAML: line 2, column 1: expected ',' or ']', "
        "but got '<stream end>' (while parsing a flow sequence at line 1, column 7)",
    ),
    "incomplete card": (
        ["1.1.0", "m2.skops", "thin.yaml"],
        "error: model card incomplete for development at high risk: missing intended_use",
    ),
    "risk differs": (
        ["1.1.0", "m2.skops", "low.yaml"],
        "error: card risk_level low differs from churn's high: state high in the card, "
        "or change the model's risk with `governance models risk`",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_registrations_exit_non_zero_and_change_nothing(case, workdir, capsys):
    base = ["models", "register", "churn"]
    assert register_first() == 0
    (workdir / "bad.yaml").write_text("name: [unclosed\n")
    (workdir / "thin.yaml").write_text("name: churn\nversion: 1.1.0\nowner: alice\nteam: t\n")
    card = yaml.safe_load((workdir / "card-1.1.0.yaml").read_text())
    (workdir / "low.yaml").write_text(yaml.safe_dump({**card, "risk_level": "low"}))
    before = state(workdir)
    (version, artifact, card_file), expected = BAD_INPUTS[case]
    assert fails([*base, version, "--artifact", artifact, "--card", card_file], capsys) == expected
    assert state(workdir) == before
    assert run(["audit", "verify"]) == 0


def test_refusals_on_unknown_model_and_illegal_transition(workdir, capsys):
    assert fails(["models", "show", "ghost@production"], capsys) == "error: unknown model 'ghost'"
    assert register_first() == 0
    before = state(workdir)
    assert fails(
        ["models", "transition", "churn", "1.0.0", "deprecated", "--reason", "x"], capsys
    ) == ("error: churn@1.0.0: illegal transition development -> deprecated")
    assert fails(["models", "transition", "churn", "1.0.0", "deprecated"], capsys) == (
        "error: churn@1.0.0: a move to deprecated needs a reason (--reason)"
    )
    assert state(workdir) == before


def test_tampered_artifact_is_refused_on_load(workdir, capsys):
    assert register_first() == 0
    stored = next(p for p in (workdir / ".governance" / "artifacts").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    expected = hashlib.sha256((workdir / "m1.skops").read_bytes()).hexdigest()
    found = hashlib.sha256(stored.read_bytes()).hexdigest()
    assert fails(["models", "verify", "churn", "1.0.0"], capsys) == (
        f"error: artifact at {stored.relative_to(workdir)} changed: "
        f"expected sha256 {expected}, found {found}"
    )


def test_unreachable_database_is_one_clear_line(workdir, capsys, monkeypatch):
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    assert fails(["models", "list"], capsys) == (
        "error: cannot reach governance database postgresql+psycopg://nobody@127.0.0.1:9/none: "
        'connection failed: connection to server at "127.0.0.1", port 9 failed: '
        "Connection refused"
    )


def test_uninitialised_database_asks_for_init(tmp_path, monkeypatch, capsys):
    isolate(tmp_path, monkeypatch)
    assert fails(["models", "list"], capsys) == (
        "error: governance database is empty: run `governance init`"
    )


def test_llm_version_registers_from_a_config_file(workdir, capsys):
    card = yaml.safe_load((workdir / "card-1.0.0.yaml").read_text())
    (workdir / "bot-card.yaml").write_text(yaml.safe_dump({**card, "name": "bot"}))
    config = {"base_model": "llama-3.1-8b", "provider": "vllm", "temperature": 0.1}
    (workdir / "bot.yaml").write_text(yaml.safe_dump(config))
    args = ["models", "register", "bot", "1.0.0", "--card", "bot-card.yaml"]
    assert run([*args, "--llm-config", "bot.yaml"]) == 0
    assert capsys.readouterr().out == "registered bot@1.0.0 (development) LLM config\n"
    assert fails(["models", "verify", "bot", "1.0.0"], capsys) == (
        "error: bot@1.0.0 has no artifact (an LLM configuration)"
    )


def test_init_refuses_a_bad_policy_naming_the_key(tmp_path, monkeypatch, capsys):
    isolate(tmp_path, monkeypatch)
    (tmp_path / "governance.yaml").write_text("roster:\n  carol: [ml_leed]\n")
    assert fails(["init"], capsys) == (
        "error: policy file: roster.carol: unknown role 'ml_leed' "
        "(expected one of ml_engineer, ml_lead, risk_officer, legal, admin)"
    )
    assert not (tmp_path / "keys" / "secret.key").exists()
    assert fails(["models", "list"], capsys) == (
        "error: governance database is empty: run `governance init`"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["approvals", "pending"],
        [
            "approve",
            "00000000-0000-0000-0000-000000000000",
            "--approver",
            "carol",
            "--role",
            "ml_lead",
            "--decision",
            "approve",
        ],
        ["promote", "churn", "1.0.0", "--dataset", "d"],
    ],
    ids=["pending", "approve", "promote"],
)
def test_promotion_commands_need_a_prefect_server(argv, workdir, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = state(workdir)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings({PREFECT_API_URL: None}):
        assert fails(argv, capsys) == (
            "error: PREFECT_API_URL is not set: start the stack with `make up` "
            "and export what it prints"
        )
    assert state(workdir) == before
