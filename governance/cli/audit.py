"""`governance audit ...`: verify the chain, export it, take checkpoints, read events."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import brief, console, governance, now
from governance.domain.audit import Checkpoint
from governance.domain.errors import ChainBroken, InvalidInput
from governance.services import audit

app = typer.Typer(help="Verify and export the tamper-evident audit trail.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Export formats."""

    jsonl = "jsonl"


def _load_checkpoints(paths: list[Path]) -> list[Checkpoint]:
    checkpoints = []
    for path in paths:
        try:
            checkpoints.append(Checkpoint.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"checkpoint file {path} is unreadable: {exc}") from None
    return checkpoints


@app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="exported checkpoint(s) the chain must still match")
    ] = None,
) -> None:
    """Recompute the hash chain; exit non-zero naming the first broken event."""
    report = audit.verify_chain(governance(), _load_checkpoints(checkpoint or []))
    if not report.ok:
        raise ChainBroken(f"audit chain broken at event {report.broken_seq}: {report.reason}")
    head = (
        f"head event {report.head_seq} hash {report.head_hash[:16]}" if report.head_seq else "empty"
    )
    console.print(f"audit chain intact: {report.verified} events verified, {head}")


@app.command("checkpoint")
def checkpoint(out: Annotated[Path | None, typer.Option(help="write the checkpoint here")] = None):
    """Export the current chain head; keep it outside the database to detect a full rewrite."""
    taken = audit.checkpoint(governance(), now())
    text = taken.model_dump_json()
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"checkpoint at event {taken.seq} written to {out}")
    else:
        print(text)


@app.command("export")
def export(
    format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Export every event with its hashes, in chain order."""
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        count = sum(stream.write(line + "\n") > 0 for line in audit.export_jsonl(governance()))
    finally:
        if out:
            stream.close()
    if out:
        console.print(f"exported {count} events to {out}")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not an ISO-8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now().tzinfo)


@app.command("log")
def log(
    type: Annotated[
        str | None, typer.Option("--type", help="event type, e.g. model.stage_changed")
    ] = None,
    model: Annotated[str | None, typer.Option(help="model name")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive")] = None,
) -> None:
    """Events by type, model and time range."""
    events = audit.history(
        governance(),
        model=model,
        event_type=type,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
    )
    table = Table("seq", "time (UTC)", "event", "subject", "actor", "details", title="audit events")
    for e in events:
        subject = f"{e.model}@{e.version}" if e.version else (e.model or "-")
        table.add_row(
            str(e.seq),
            e.ts[:19].replace("T", " "),
            e.event_type,
            subject,
            e.actor,
            brief(e.details),
        )
    console.print(table)
