"""`keys` is a host-only command: never served, and the thin client says where it runs."""

from __future__ import annotations

import pytest

from governance.cli import app
from governance.remote.cli import build
from governance.remote.settings import ClientError
from governance.server.manifest import is_local_only, manifest


def test_keys_derive_is_never_served():
    served = manifest(app)
    assert is_local_only(("keys", "derive"))
    assert not [c for c in served["commands"] if c["path"][0] == "keys"]


@pytest.mark.parametrize("argv", [["keys", "derive", "--gateway", "--out", "g.keys"], ["keys"]])
def test_the_thin_client_says_keys_runs_on_the_server_host(argv):
    root = build(manifest(app))
    with pytest.raises(ClientError, match=r"^`governance keys` runs on the server host only"):
        root.main(argv, standalone_mode=False)
