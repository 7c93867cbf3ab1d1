"""`governance server ...`: the governance server, set up and run on its own host."""

from __future__ import annotations

import io
from typing import Annotated

import segno
import typer

from governance.cli import setup
from governance.cli.context import console, governance, now
from governance.config import load_settings
from governance.services.trust import identity
from governance.signing import generate_keypair

APP = "governance.server.app:create_app"

app = typer.Typer(
    help="The governance server (runs on the server host, with the database and the keys).",
    no_args_is_help=True,
)


@app.command("init")
def init(
    admin: Annotated[
        str | None, typer.Option(help="enrol this roster person as the first admin")
    ] = None,
) -> None:
    """On the server host: schema, secret and signing keys, and the first admin's authenticator.

    Only this host holds the database credentials and the keys; people use the server's URL.
    """
    setup.init()
    private = load_settings().resolved_signing_key_file
    if private.exists():
        console.print(f"signing key: {private} kept")
    else:
        public, _fingerprint = generate_keypair(private)
        console.print(f"signing key: {private} created (mode 0600); public key {public}")
    if admin:
        gov = governance()
        made = identity.enroll_first_admin(gov, admin, now=now())
        qr = io.StringIO()
        segno.make(made.uri).terminal(out=qr, compact=True)
        console.print(f"first admin {made.name} enrolled; scan this with an authenticator app:")
        console.out(qr.getvalue(), highlight=False, end="")
        console.out(made.uri, highlight=False)
        console.out(f"secret for manual entry: {made.secret}", highlight=False)


@app.command("run")
def run(
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 8400,
    host: Annotated[
        str, typer.Option("--host", help="address to bind (loopback by default)")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="worker processes")] = 1,
) -> None:
    """Serve the governance API; sessions and rate limits live in the database."""
    import uvicorn  # the server host only: a person's CLI never needs it

    # Fail here, in one line, rather than inside a worker: database, schema, policy, keys.
    gov = governance()
    policy, _ = gov.policy, gov.keyring.master
    console.print(f"policy version {policy.version[:12]}; keys read from the server host")
    console.print(f"governance server on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
