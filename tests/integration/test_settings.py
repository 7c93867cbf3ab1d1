"""Settings reach the engine validated: a bad busy timeout stops the CLI, a good one is used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from governance.bootstrap import open_governance
from governance.cli import run
from governance.config import EXAMPLE_POLICY, load_settings
from governance.domain.errors import ConfigError

VARIABLE = "GOVERNANCE_SQLITE_BUSY_TIMEOUT_MS"
GOVERNANCE = Path(sys.executable).with_name("governance")
NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"
BAD_VALUES = [
    ("abc", NOT_AN_INTEGER),
    ("", NOT_AN_INTEGER),
    ("1.5", NOT_AN_INTEGER),
    ("-5", "Input should be greater than 0"),
    ("0", "Input should be greater than 0"),
    ("600001", "Input should be less than or equal to 600000"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A directory with the example policy named explicitly, and no other settings."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("GOVERNANCE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GOVERNANCE_POLICY_FILE", str(EXAMPLE_POLICY))
    return tmp_path


@pytest.mark.parametrize(("value", "words"), BAD_VALUES)
def test_load_settings_names_a_bad_busy_timeout(workdir, monkeypatch, value, words) -> None:
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"setting {VARIABLE}: {words}"


@pytest.mark.parametrize(("value", "words"), BAD_VALUES)
def test_the_cli_stops_on_a_bad_busy_timeout_and_creates_nothing(
    workdir, monkeypatch, capsys, value, words
) -> None:
    monkeypatch.setenv(VARIABLE, value)
    assert run(["init"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: setting {VARIABLE}: {words}"]
    assert not (workdir / ".governance").exists()


def test_the_installed_command_exits_1_with_one_line(workdir) -> None:
    env = {**os.environ, VARIABLE: "abc"}
    done = subprocess.run(
        [str(GOVERNANCE), "init"], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: setting {VARIABLE}: {NOT_AN_INTEGER}"]
    assert not (workdir / ".governance").exists()


def busy_timeout(gov) -> int:
    """The busy timeout SQLite applies on one of the engine's connections."""
    with gov.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()


def test_the_engine_uses_the_busy_timeout_from_the_environment(workdir, monkeypatch) -> None:
    assert run(["init"]) == 0
    monkeypatch.setenv(VARIABLE, "250")
    gov = open_governance()
    try:
        assert gov.settings.sqlite_busy_timeout_ms == 250
        assert busy_timeout(gov) == 250
    finally:
        gov.close()


def test_the_engine_uses_the_busy_timeout_of_the_settings_it_is_given(workdir) -> None:
    assert run(["init"]) == 0
    settings = load_settings().model_copy(update={"sqlite_busy_timeout_ms": 1234})
    gov = open_governance(settings)
    try:
        assert busy_timeout(gov) == 1234
    finally:
        gov.close()


def test_the_default_busy_timeout_is_thirty_seconds(workdir) -> None:
    assert run(["init"]) == 0
    gov = open_governance()
    try:
        assert gov.settings.sqlite_busy_timeout_ms == 30_000
        assert busy_timeout(gov) == 30_000
    finally:
        gov.close()
