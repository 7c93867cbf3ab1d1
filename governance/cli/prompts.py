"""`governance prompts ...`: versioned templates, review, and the production pointer."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from governance.cli.context import console, current_actor, governance, now
from governance.domain.errors import InvalidInput
from governance.domain.prompts import PointerMove, PromptVersion, parse_variables
from governance.services.prompts import prompt_registry

app = typer.Typer(
    help="Prompt registry: versioned templates, review, production pointer.",
    no_args_is_help=True,
)


def _read_template(path: Path) -> str:
    """The template file's text; InvalidInput naming the path when it cannot be read as UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read template {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"template {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def _names(names: list[str]) -> str:
    return ", ".join(names) or "none"


def _approvers(move: PointerMove) -> str:
    """`carol (ml_lead), dave (risk_officer)`, or '' when the move records no approvals."""
    return ", ".join(f"{a.get('approver', '?')} ({a.get('role', '?')})" for a in move.approvers)


def _when(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def _say(line: str) -> None:
    """One line through the console, taken literally: no markup, highlighting or emoji codes."""
    console.print(line, markup=False, highlight=False, emoji=False)


def _write(text: str) -> None:
    """Print text exactly as it is (no rich markup, emoji or wrapping), ending a TTY line."""
    sys.stdout.write(text)
    if text and not text.endswith("\n") and sys.stdout.isatty():
        sys.stdout.write("\n")


def _parse_time(text: str) -> datetime:
    """An ISO 8601 time; a time without a zone is UTC, and a trailing `Z` means UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--time {text!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _render_variables(pairs: list[str]) -> dict[str, object]:
    """`--var NAME=VALUE` options as a mapping; InvalidInput naming a malformed or repeated one."""
    found: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"--var {pair!r} is not NAME=VALUE")
        if name in found:
            raise InvalidInput(f"--var {name!r} is given more than once")
        found[name] = value
    return found


@app.command("register")
def register(
    prompt_id: Annotated[str, typer.Argument(help="Prompt id, e.g. support.")],
    template: Annotated[Path, typer.Option(help="Jinja2 template file (UTF-8).")],
    bump: Annotated[
        str, typer.Option(help="Which part of the version to raise: major, minor or patch.")
    ] = "patch",
    variables: Annotated[
        str | None,
        typer.Option(help="Comma-separated variables; must equal what the template uses."),
    ] = None,
    description: Annotated[str, typer.Option(help="What this version changes.")] = "",
) -> None:
    """Register the next version of a prompt as a draft, as the logged-in person."""
    gov = governance()
    actor = current_actor(gov)
    declared = parse_variables(variables)
    text = _read_template(template)
    saved = prompt_registry.register(
        gov,
        prompt_id=prompt_id,
        template=text,
        actor=actor,
        now=now(),
        bump=bump,
        variables=declared,
        description=description,
    )
    _say(
        f"registered {saved.ref} ({saved.status.value}) sha256:{saved.template_digest[:12]} "
        f"variables: {_names(saved.variables)}"
    )


@app.command("submit")
def submit(ref: Annotated[str, typer.Argument(help="ID, ID@VERSION (ID alone: latest).")]) -> None:
    """Move a draft version to review, where a promotion may pick it up."""
    gov = governance()
    found = prompt_registry.submit(gov, ref, actor=current_actor(gov), now=now())
    _say(f"{found.ref} is now in {found.status.value}")


@app.command("list")
def list_prompts() -> None:
    """Every prompt: how many versions, the latest and its status, the production version."""
    rows = prompt_registry.listing(governance())
    if not rows:
        console.print("no prompts registered yet: `governance prompts register ID --template F`")
        return
    table = Table("prompt", "versions", "latest", "status", "production")
    for row in rows:
        table.add_row(
            Text(row["prompt_id"]),
            str(row["versions"]),
            row["latest"],
            row["latest_status"],
            row["production"] or "-",
        )
    console.print(table)


def _production_line(gov, found: PromptVersion) -> str:
    moves = prompt_registry.history(gov, found.prompt_id)
    current = moves[-1].version if moves else None
    if current is None:
        return "no (no production version yet)"
    if current == found.version:
        return "yes"
    return f"no (production is {found.prompt_id}@{current})"


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="ID, ID@VERSION or ID@production.")],
    as_json: Annotated[bool, typer.Option("--json", help="The version as JSON.")] = False,
) -> None:
    """A version's status, author, variables and digest, then its template verbatim."""
    gov = governance()
    found = prompt_registry.resolve(gov, ref)
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    header = [
        f"prompt:      {found.ref}",
        f"status:      {found.status.value}",
        f"created:     {_when(found.created_at)} by {found.created_by}",
        f"variables:   {_names(found.variables)}",
        f"digest:      sha256:{found.template_digest}",
        f"production:  {_production_line(gov, found)}",
    ]
    if found.description:
        header.append(f"description: {found.description}")
    _write("\n".join(header) + "\n\n")
    _write(found.template)


_DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


@app.command("diff")
def diff(
    prompt_id: str,
    old: Annotated[str, typer.Argument(help="The earlier version.")],
    new: Annotated[str, typer.Argument(help="The later version.")],
) -> None:
    """A unified diff of two versions' templates."""
    text = prompt_registry.diff(governance(), prompt_id, old, new)
    if not text:
        _say(f"{prompt_id}@{old} and {prompt_id}@{new} have the same template")
        return
    if not console.is_terminal:
        _write(text)
        return
    for line in text.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else _DIFF_STYLES.get(line[:1], "")
        console.print(Text(line, style=style), soft_wrap=True)


@app.command("render")
def render(
    ref: Annotated[str, typer.Argument(help="ID, ID@VERSION or ID@production.")],
    var: Annotated[
        list[str], typer.Option("--var", help="NAME=VALUE, once per declared variable.")
    ] = [],  # noqa: B006
) -> None:
    """Render a version's template in the sandbox; prints the rendered text only."""
    variables = _render_variables(var)
    _, text = prompt_registry.render(governance(), ref, variables)
    _write(text)


@app.command("history")
def history(prompt_id: str) -> None:
    """Every move of the production pointer, oldest first: who moved it, who approved it, why."""
    moves = prompt_registry.history(governance(), prompt_id)
    if not moves:
        _say(f"{prompt_id} has never been in production")
        return
    table = Table("time", "version", "previous", "kind", "moved by", "approvers", "reason")
    for move in moves:
        kind = f"{move.kind} (request {move.request_id})" if move.request_id else move.kind
        table.add_row(
            _when(move.moved_at),
            move.version,
            move.previous_version or "-",
            Text(kind),
            Text(move.moved_by),
            Text(_approvers(move) or "-"),
            Text(move.reason or "-"),
        )
    console.print(table)


@app.command("rollback")
def rollback(
    prompt_id: str,
    to: Annotated[str, typer.Option("--to", help="An earlier approved version.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the audit trail.")] = "",
) -> None:
    """Move the production pointer back to an earlier approved version (verified ml_lead)."""
    gov = governance()
    move = prompt_registry.rollback(
        gov, prompt_id, to=to, actor=current_actor(gov), reason=reason, now=now()
    )
    _say(
        f"{prompt_id} production: {move.previous_version or 'none'} -> {move.version} "
        f"({move.kind} by {move.moved_by})"
    )


@app.command("at")
def at(
    prompt_id: str,
    time: Annotated[str, typer.Option("--time", help="ISO 8601 time; without a zone it is UTC.")],
    as_json: Annotated[bool, typer.Option("--json", help="The pointer move as JSON.")] = False,
) -> None:
    """Which version was in production at a time, who moved it there and who approved it."""
    when = _parse_time(time)
    move = prompt_registry.at(governance(), prompt_id, when)
    if as_json:
        print(move.model_dump_json(indent=2))
        return
    how = f"{move.kind}, request {move.request_id}" if move.request_id else move.kind
    approved = _approvers(move)
    _say(
        f"{prompt_id}@{move.version} was production at {when.isoformat()}: "
        f"moved by {move.moved_by} ({how}), "
        + (f"approved by {approved}" if approved else "no approvals recorded")
    )
