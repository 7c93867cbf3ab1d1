"""Purpose key files: only the subkeys a process needs, the same subkeys the master derives,
and a ConfigError naming the file and the purpose for anything else."""

from __future__ import annotations

import json
import re
import stat

import pytest

from governance.cli import run
from governance.domain.audit import MAC_PURPOSE
from governance.domain.errors import ConfigError
from governance.keyring import Keyring, create_secret_key, write_purpose_keys
from governance.services.promotion.request_tokens import TOKEN_PURPOSE
from governance.services.trust.identity import SECRET_PURPOSE, SESSION_PURPOSE
from governance.services.trust.session_rows import ROW_PURPOSE
from governance.serving.key_purposes import GATEWAY_PURPOSES

PERSON_PURPOSES = (SECRET_PURPOSE, SESSION_PURPOSE, ROW_PURPOSE, TOKEN_PURPOSE)


@pytest.fixture
def master(tmp_path) -> Keyring:
    """A fresh master key file."""
    create_secret_key(tmp_path / "secret.key")
    return Keyring(tmp_path / "secret.key")


def test_the_gateway_purposes_are_the_four_it_checks_and_no_person_purpose():
    assert sorted(GATEWAY_PURPOSES) == [
        "audit-mac",
        "client-key-row",
        "gateway-credential",
        "routing-spec",
    ]
    assert not set(GATEWAY_PURPOSES) & set(PERSON_PURPOSES)


def test_a_purpose_key_file_holds_the_masters_subkeys_and_nothing_else(master, tmp_path):
    path = tmp_path / "gateway.keys"
    assert write_purpose_keys(master, GATEWAY_PURPOSES, path) == sorted(GATEWAY_PURPOSES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored == {"purposes": {p: master.derive(p).hex() for p in GATEWAY_PURPOSES}}
    gateway = Keyring(path)
    assert gateway.purposes == frozenset(GATEWAY_PURPOSES)
    for purpose in GATEWAY_PURPOSES:
        assert gateway.derive(purpose) == master.derive(purpose)
    # A MAC made with the master verifies with the file, and the other way round.
    made = master.mac(MAC_PURPOSE, "event")
    assert gateway.check_mac(MAC_PURPOSE, "event", made)
    assert master.check_mac(MAC_PURPOSE, "event", gateway.mac(MAC_PURPOSE, "event"))
    gateway.require(GATEWAY_PURPOSES)


@pytest.mark.parametrize("purpose", PERSON_PURPOSES)
def test_a_purpose_key_file_refuses_every_other_purpose(master, tmp_path, purpose):
    path = tmp_path / "gateway.keys"
    write_purpose_keys(master, GATEWAY_PURPOSES, path)
    sealed = master.encrypt(purpose, "JBSWY3DPEHPK3PXP")
    words = f"^key file {re.escape(str(path))} holds no key for purpose '{purpose}'$"
    gateway = Keyring(path)
    with pytest.raises(ConfigError, match=words):
        gateway.decrypt(purpose, sealed)
    with pytest.raises(ConfigError, match=words):
        gateway.mac(purpose, "a session row")
    with pytest.raises(ConfigError, match=words):
        gateway.require([*GATEWAY_PURPOSES, purpose])
    with pytest.raises(ConfigError, match=r"is a purpose key file .* not the master secret key"):
        _ = gateway.master


def test_a_key_file_is_never_replaced(master, tmp_path):
    path = tmp_path / "gateway.keys"
    path.write_text("kept")
    with pytest.raises(ConfigError, match=f"^key file {re.escape(str(path))} exists"):
        write_purpose_keys(master, GATEWAY_PURPOSES, path)
    assert path.read_text() == "kept"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"purposes": ', "is not valid JSON"),
        ('{"keys": {}}', 'needs a non-empty "purposes" object'),
        ('{"purposes": {}}', 'needs a non-empty "purposes" object'),
        ('{"purposes": {"audit-mac": "abcd"}}', "the key for purpose 'audit-mac' must be 32"),
        ('{"purposes": {"audit-mac": "zz"}}', "the key for purpose 'audit-mac' must be 32"),
        ("not a key at all", "holds 16 bytes, expected 32 \\(or a JSON purpose key file\\)"),
    ],
)
def test_a_malformed_key_file_is_named(tmp_path, content, words):
    path = tmp_path / "bad.keys"
    path.write_text(content)
    with pytest.raises(ConfigError, match=words):
        Keyring(path).derive(MAC_PURPOSE)


def test_keys_derive_writes_the_gateway_file(master, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY_FILE", str(master.path))
    out = tmp_path / "gateway.keys"
    assert run(["keys", "derive", "--gateway", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    held = "audit-mac, client-key-row, gateway-credential, routing-spec"
    assert f"{out} (mode 0600) holding keys for {held}" in said.replace("\n", "")
    assert Keyring(out).purposes == frozenset(GATEWAY_PURPOSES)
    # From a purpose key file only its own purposes can be passed on.
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY_FILE", str(out))
    again = tmp_path / "more.keys"
    assert run(["keys", "derive", "--purpose", SECRET_PURPOSE, "--out", str(again)]) == 1
    assert f"holds no key for purpose '{SECRET_PURPOSE}'" in capsys.readouterr().err
    assert not again.exists()
    assert run(["keys", "derive", "--out", str(again)]) == 1
    assert "name the purposes: --gateway, or --purpose PURPOSE" in capsys.readouterr().err
