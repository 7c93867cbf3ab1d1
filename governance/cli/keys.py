"""`governance keys derive`: a purpose key file for a process that needs only some keys.

Host-only: it reads the master secret key file, so it runs where that file is (it is no
command to offer through the governance server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli.context import console
from governance.config import load_settings
from governance.domain.errors import InvalidInput
from governance.keyring import Keyring, write_purpose_keys
from governance.serving.key_purposes import GATEWAY_PURPOSES

app = typer.Typer(help="Key custody: purpose key files derived from the secret key.")


@app.command("derive")
def derive(
    out: Annotated[Path, typer.Option("--out", help="the purpose key file to write (mode 0600)")],
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="a purpose to include (repeatable)")
    ] = None,
    gateway: Annotated[
        bool, typer.Option("--gateway", help="the purposes the serving gateway uses")
    ] = False,
) -> None:
    """Write the subkeys of some purposes, and nothing else, from GOVERNANCE_SECRET_KEY_FILE.

    Give the gateway the file `--gateway` writes as its GOVERNANCE_SECRET_KEY_FILE: it serves
    with it, and cannot decrypt a TOTP secret or mint a session or request token.
    """
    wanted = [*(purpose or ()), *(GATEWAY_PURPOSES if gateway else ())]
    if not wanted:
        raise InvalidInput("name the purposes: --gateway, or --purpose PURPOSE (repeatable)")
    master = Keyring(load_settings().resolved_secret_key_file)
    written = write_purpose_keys(master, wanted, out)
    console.print(f"purpose key file: {out} (mode 0600) holding keys for {', '.join(written)}")
