"""The `governance` command: Typer sub-commands, one clear line and a non-zero exit on errors."""

from __future__ import annotations

import sys

import click
import httpx
import typer
from sqlalchemy.exc import OperationalError

from governance.cli import (
    audit,
    clients,
    compliance,
    compliance_packs,
    datasets,
    endpoints,
    experiments,
    keys,
    models,
    monitoring,
    people,
    promotion,
    prompt_promotion,
    prompts,
    serve,
    server,
    setup,
)
from governance.cli.context import close_opened
from governance.domain.errors import GovernanceError

app = typer.Typer(
    help="Model governance: registry, cards, audit trail and promotions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(setup.init)
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(audit.app, name="audit")
app.add_typer(people.app, name="people")
app.command("login")(people.login)
app.command("logout")(people.logout)
app.command("promote")(promotion.promote)
app.command("approve")(promotion.approve)
app.add_typer(promotion.approvals_app, name="approvals")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(clients.app, name="clients")
app.add_typer(endpoints.flags_app, name="flags")
app.add_typer(experiments.app, name="experiments")
prompts.app.command("promote")(prompt_promotion.promote)
prompts.app.add_typer(prompt_promotion.suites_app, name="suites")
app.add_typer(prompts.app, name="prompts")
app.command("rollback")(endpoints.rollback)
app.command("serve")(serve.serve)
app.add_typer(server.app, name="server")
app.add_typer(monitoring.app, name="monitoring")
compliance_packs.register(compliance.app)
app.add_typer(compliance.app, name="compliance")
app.command("audit-retirement")(monitoring.audit_retirement)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting."""
    try:
        result = _dispatch(argv)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # The three below reach here from code that cannot know what the user was doing; one line
    # naming the path, server or lock is still more use than a traceback.
    except OSError as exc:
        print(f"error: {_os_problem(exc)}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"error: {_unreachable(exc)}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(f"error: {_database_problem(exc)}", file=sys.stderr)
        return 1
    # Typer 0.29 vendors its own click: its usage errors are not click's classes.
    except (click.exceptions.ClickException, typer.TyperException) as exc:
        exc.show()
        return getattr(exc, "exit_code", 2)
    except (click.exceptions.Abort, typer.Abort):
        print("aborted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def _dispatch(argv: list[str] | None):
    """Run one command, then release every database connection it opened."""
    try:
        return app(args=argv, prog_name="governance", standalone_mode=False)
    finally:
        close_opened()


def _os_problem(exc: OSError) -> str:
    """An OSError as `cannot write PATH: reason` (reads are refused earlier, as InvalidInput)."""
    if exc.filename is None:
        return exc.strerror or str(exc)
    return f"cannot write {exc.filename}: {exc.strerror}"


def _unreachable(exc: httpx.TransportError) -> str:
    """A failed HTTP request, naming the Prefect API when that is what was called."""
    from prefect.settings import PREFECT_API_URL

    api = (PREFECT_API_URL.value() or "").rstrip("/")
    try:
        url = str(exc.request.url)
    except RuntimeError:  # raised by httpx when the error carries no request
        url = api
    reason = str(exc) or type(exc).__name__
    if api and url.startswith(api):
        return f"cannot reach the Prefect API at {api}: {reason}"
    return f"cannot reach {url}: {reason}"


def _database_problem(exc: OperationalError) -> str:
    """A database error from a statement, naming a lock held by another writer as such."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if reason == "database is locked":
        return "governance database is locked by another writer: try again when it has finished"
    return f"governance database error: {reason}"


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
