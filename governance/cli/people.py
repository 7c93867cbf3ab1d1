"""`governance people ...`, `governance login` and `governance logout` (verified identities)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Roster people and their authenticators.", no_args_is_help=True)


def login(name: str) -> None:
    """Open a CLI session as NAME with a one-time code."""
    raise NotImplementedError


def logout() -> None:
    """End the CLI session."""
    raise NotImplementedError
