"""The `governance` command: Typer sub-commands, one clear line and a non-zero exit on errors."""

from __future__ import annotations

import sys

import click
import typer

from governance.cli import audit, datasets, models, people, promotion, setup
from governance.domain.errors import GovernanceError

app = typer.Typer(
    help="Model governance: registry, cards, audit trail and promotions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(setup.init)
app.add_typer(models.app, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(audit.app, name="audit")
app.add_typer(people.app, name="people")
app.command("login")(people.login)
app.command("logout")(people.logout)
app.command("promote")(promotion.promote)
app.command("approve")(promotion.approve)
app.add_typer(promotion.approvals_app, name="approvals")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting."""
    try:
        result = app(args=argv, prog_name="governance", standalone_mode=False)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
