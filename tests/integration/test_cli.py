"""The `governance` CLI end to end on a real SQLite file: output, exit codes, refusals."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from governance.cli import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cards" / "churn-classifier.yaml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch, model_bytes) -> Path:
    """An initialised governance home with a model file and a matching card."""
    monkeypatch.chdir(tmp_path)
    for key in ("GOVERNANCE_DATABASE_URL", "GOVERNANCE_ARTIFACT_ROOT", "GOVERNANCE_POLICY_FILE"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "m1.skops").write_bytes(model_bytes[0])
    (tmp_path / "m2.skops").write_bytes(model_bytes[1])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
    card = yaml.safe_load(EXAMPLE.read_text())
    for version in ("1.0.0", "1.1.0"):
        text = yaml.safe_dump({**card, "name": "churn", "version": version})
        (tmp_path / f"card-{version}.yaml").write_text(text)
    assert run(["init"]) == 0
    return tmp_path


def register_first(by: str = "alice") -> int:
    """Register churn 1.0.0 from the workdir's files."""
    args = ["1.0.0", "--artifact", "m1.skops", "--card", "card-1.0.0.yaml", "--by", by]
    return run(["models", "register", "churn", *args])


def state(workdir: Path) -> tuple[bytes, list[str]]:
    """The database bytes after a checkpoint, and the artifact files: what refusals must keep."""
    import sqlite3

    db = workdir / ".governance" / "governance.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq").fetchall()
        versions = conn.execute("SELECT version, stage FROM model_versions ORDER BY id").fetchall()
    files = sorted(
        p.name for p in (workdir / ".governance" / "artifacts").rglob("*") if p.is_file()
    )
    return repr((rows, versions)).encode(), files


def test_register_promote_show_and_verify(workdir, capsys):
    assert register_first() == 0
    assert run(["models", "transition", "churn", "1.0.0", "staging", "--by", "bob"]) == 0
    assert run(["models", "transition", "churn", "1.0.0", "production", "--by", "bob"]) == 0
    assert run(["models", "alias", "churn", "champion", "1.0.0", "--by", "bob"]) == 0
    capsys.readouterr()
    assert run(["models", "show", "churn@champion"]) == 0
    shown = capsys.readouterr().out
    assert "production" in shown and "champion" in shown
    assert run(["models", "list", "--stage", "production"]) == 0
    assert "churn" in capsys.readouterr().out
    assert run(["models", "card", "churn", "1.0.0", "--format", "md"]) == 0
    assert "# Model card: churn 1.0.0" in capsys.readouterr().out
    assert run(["models", "verify", "churn", "1.0.0"]) == 0
    assert "digest matches" in capsys.readouterr().out
    assert run(["models", "history", "churn"]) == 0
    assert "model.alias_set" in capsys.readouterr().out
    assert run(["audit", "verify"]) == 0
    assert "5 events verified" in capsys.readouterr().out
    assert run(["audit", "export", "--format", "jsonl", "--out", "trail.jsonl"]) == 0
    assert len((workdir / "trail.jsonl").read_text().splitlines()) == 5


BAD_INPUTS = {
    "invalid semver": (
        ["1.0", "m2.skops", "card-1.1.0.yaml"],
        "error: invalid semantic version '1.0': expected MAJOR.MINOR.PATCH",
    ),
    "duplicate version": (["1.0.0", "m2.skops", "card-1.0.0.yaml"], "already registered"),
    "untrusted pickle": (["1.1.0", "m.pkl", "card-1.1.0.yaml"], "pickle"),
    "malformed card": (
        ["1.1.0", "m2.skops", "bad.yaml"],
        "error: bad.yaml: malformed model card YAML: line 2, column 1: expected ',' or ']', "
        "but got '<stream end>' (while parsing a flow sequence at line 1, column 7)",
    ),
    "incomplete card": (["1.1.0", "m2.skops", "thin.yaml"], "intended_use"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_registrations_exit_non_zero_and_change_nothing(case, workdir, capsys):
    base = ["models", "register", "churn"]
    assert register_first() == 0
    (workdir / "bad.yaml").write_text("name: [unclosed\n")
    (workdir / "thin.yaml").write_text("name: churn\nversion: 1.1.0\nowner: alice\nteam: t\n")
    before = state(workdir)
    capsys.readouterr()
    (version, artifact, card), expected = BAD_INPUTS[case]
    code = run([*base, version, "--artifact", artifact, "--card", card, "--by", "alice"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err
    assert "Traceback" not in err
    assert state(workdir) == before
    assert run(["audit", "verify"]) == 0


def test_refusals_on_unknown_model_and_illegal_transition(workdir, capsys):
    assert run(["models", "show", "ghost@production"]) == 1
    assert "unknown model 'ghost'" in capsys.readouterr().err
    register_first(by="a")
    before = state(workdir)
    capsys.readouterr()
    assert run(["models", "transition", "churn", "1.0.0", "production", "--by", "bob"]) == 1
    assert "development -> production" in capsys.readouterr().err
    assert state(workdir) == before


def test_tampered_artifact_is_refused_on_load(workdir, capsys):
    register_first(by="a")
    stored = next(p for p in (workdir / ".governance" / "artifacts").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    capsys.readouterr()
    assert run(["models", "verify", "churn", "1.0.0"]) == 1
    assert "changed: expected sha256" in capsys.readouterr().err


def test_unreachable_database_is_one_clear_line(workdir, capsys, monkeypatch):
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    assert run(["models", "list"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach governance database") and "127.0.0.1:9" in err
    assert len(err.splitlines()) == 1


def test_uninitialised_database_asks_for_init(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOVERNANCE_DATABASE_URL", raising=False)
    assert run(["models", "list"]) == 1
    assert "run `governance init`" in capsys.readouterr().err


def test_llm_version_registers_from_a_config_file(workdir, capsys):
    card = yaml.safe_load((workdir / "card-1.0.0.yaml").read_text())
    (workdir / "bot-card.yaml").write_text(yaml.safe_dump({**card, "name": "bot"}))
    config = {"base_model": "llama-3.1-8b", "provider": "vllm", "temperature": 0.1}
    (workdir / "bot.yaml").write_text(yaml.safe_dump(config))
    args = ["models", "register", "bot", "1.0.0", "--card", "bot-card.yaml", "--by", "alice"]
    assert run([*args, "--llm-config", "bot.yaml"]) == 0
    assert "LLM config" in capsys.readouterr().out
    assert run(["models", "verify", "bot", "1.0.0"]) == 1
    assert "no artifact" in capsys.readouterr().err


def test_init_refuses_a_bad_policy_naming_the_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOVERNANCE_DATABASE_URL", raising=False)
    (tmp_path / "governance.yaml").write_text("roster:\n  carol: [ml_leed]\n")
    assert run(["init"]) == 1
    err = capsys.readouterr().err
    assert "roster.carol" in err and "ml_leed" in err
    assert run(["models", "list"]) == 1
    assert "database is empty" in capsys.readouterr().err


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
        ["promote", "churn", "1.0.0", "--dataset", "d", "--by", "alice"],
    ],
    ids=["pending", "approve", "promote"],
)
def test_promotion_commands_need_a_prefect_server(argv, workdir, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings({PREFECT_API_URL: None}):
        assert run(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: PREFECT_API_URL is not set") and len(err.splitlines()) == 1
