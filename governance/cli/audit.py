"""`governance audit ...`: verify, export, sign checkpoints, make signing keys, read events."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import brief, console, governance, now
from governance.config import load_settings
from governance.domain.errors import InvalidInput
from governance.services.trust import audit
from governance.services.trust.audit import TrailReport
from governance.signing import generate_keypair

app = typer.Typer(help="Verify and export the tamper-evident audit trail.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Export formats."""

    jsonl = "jsonl"


def _anchor_summary(report: TrailReport) -> str:
    newest = report.newest_anchor
    if newest is None:
        return ""
    return (
        f"; {report.checkpoints} signed checkpoint(s) verified, {report.events_after_anchor}"
        f" event(s) after the newest anchor (event {newest.seq}, {newest.taken_at})"
    )


def _head(report: TrailReport) -> str:
    chain = report.chain
    if not chain.head_seq:
        return "empty"
    return f"head event {chain.head_seq} hash {chain.head_hash[:16]}"


@app.command("verify")
def verify(
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="signed checkpoint file(s) the chain must match")
    ] = None,
    checkpoints: Annotated[
        Path | None, typer.Option(help="directory of signed checkpoints (the anchor directory)")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 public key (PEM); default: the signing key's .pub"),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="verify this export file instead of the database (never opened)"),
    ] = None,
) -> None:
    """Check chain, MACs, signed checkpoints and the state tables; name the first problem."""
    anchors = audit.load_checkpoints(checkpoint or [], checkpoints)
    if export is not None:
        settings = load_settings()
        report = audit.verify_export_file(settings, export, anchors, public_key=public_key)
        macs = (
            f"MACs checked with {report.key_file}"
            if report.key_file
            else f"MACs NOT checked (no secret key file at {settings.resolved_secret_key_file})"
        )
        console.print(
            f"export intact: {report.chain.verified} events verified, {macs}, {_head(report)}"
            + _anchor_summary(report)
        )
        return
    report = audit.verify(governance(), anchors, public_key=public_key)
    console.print(
        f"audit trail intact: {report.chain.verified} events verified with their MACs, "
        f"{report.state_rows} state rows match the events, {_head(report)}"
        + _anchor_summary(report)
    )
    for span in report.identity_off:
        console.print(f"identities were off (identity: none) {_span(span)}")


def _span(span) -> str:
    """Where in the trail a span of unverified events lies, by seq and time."""
    if span.first_seq == span.last_seq:
        return f"for event {span.first_seq} ({span.first_ts})"
    return (
        f"for events {span.first_seq} to {span.last_seq} "
        f"({span.first_ts} to {span.last_ts}, {span.events} events)"
    )


@app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option(help="write the checkpoint here")] = None,
    signing_key: Annotated[
        Path | None, typer.Option(help="Ed25519 private key (default GOVERNANCE_SIGNING_KEY_FILE)")
    ] = None,
) -> None:
    """Sign the current chain head ({seq, head hash, time}); keep it outside the database."""
    taken = audit.checkpoint(governance(), now(), signing_key)
    text = taken.model_dump_json()
    if out is None:
        print(text)
        return
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write --out {out}: {exc.strerror}") from None
    console.print(f"signed checkpoint at event {taken.seq} written to {out}")


@app.command("keygen")
def keygen(
    out: Annotated[
        Path | None,
        typer.Option(help="private key file (default GOVERNANCE_SIGNING_KEY_FILE)"),
    ] = None,
) -> None:
    """Make an Ed25519 key pair that signs checkpoints; never overwrites a key.

    Private key: PEM PKCS#8, mode 0600. Public key: PEM SubjectPublicKeyInfo in PATH.pub.

    Give PATH.pub to whoever verifies checkpoints (`audit verify --public-key`).

    A signature is Ed25519 over the checkpoint's canonical JSON
    {"events","hash","seq","taken_at"}, hex.
    """
    private = out or load_settings().resolved_signing_key_file
    public, fingerprint = generate_keypair(private)
    console.print(f"signing key: {private} (mode 0600; keep it outside the database)")
    console.print(f"public key: {public} (fingerprint {fingerprint})")


@app.command("export")
def export(
    format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Export every event's exact hashed text with prev_hash, hash and MAC, in chain order."""
    gov = governance()
    try:
        stream = out.open("w", encoding="utf-8", newline="\n") if out else sys.stdout
    except OSError as exc:
        raise InvalidInput(f"cannot write --out {out}: {exc.strerror}") from None
    try:
        count = sum(stream.write(line + "\n") > 0 for line in audit.export_jsonl(gov))
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
