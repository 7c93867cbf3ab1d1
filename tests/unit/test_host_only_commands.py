"""The thin client refuses host-only commands in one line, whatever follows their name."""

from __future__ import annotations

import pytest

from governance.remote.cli import build
from governance.remote.settings import ClientError
from governance.server.manifest import is_local_only


@pytest.mark.parametrize(
    "argv",
    [["keys", "derive", "--gateway", "--out", "gateway.keys"], ["keys"], ["server", "init"]],
)
def test_a_host_only_command_names_where_it_runs(argv):
    root = build({"commands": [], "groups": {}})
    with pytest.raises(ClientError, match=f"^`governance {argv[0]}` runs on the server host only"):
        root.main(argv, standalone_mode=False)


def test_keys_derive_is_never_served():
    assert is_local_only(("keys", "derive"))
