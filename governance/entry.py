"""The `governance` console script: the thin client when a server is configured, else local."""

from __future__ import annotations

import sys

from governance.remote import cli as remote
from governance.remote.settings import server_url

# Run on this host even with a server configured: they need the database and the keys.
HOST_COMMANDS = frozenset({"init", "server", "serve"})


# Run on this machine whether or not a server is configured: they need no server at all.
OFFLINE_COMMANDS = (["compliance", "verify"],)


def wants_local(argv: list[str]) -> bool:
    """True when the command must run here: no server is configured, or it is offline."""
    if argv[:1] == ["config"]:
        return False
    if any(argv[: len(command)] == command for command in OFFLINE_COMMANDS):
        return True
    return server_url() is None


def main() -> None:
    """Dispatch to the thin client or to the full local CLI."""
    argv = sys.argv[1:]
    if not wants_local(argv):
        sys.exit(remote.run(argv))
    # Imported only here: the full CLI loads the services, scipy, scikit-learn and prefect,
    # which a person talking to a server never needs (seconds of start-up per command).
    from governance.cli import main as local_main

    local_main()
