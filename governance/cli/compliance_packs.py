"""`governance compliance pack|verify|status`: Annex IV packs built from the records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import acting_name, console, governance, now
from governance.config import load_settings
from governance.domain.compliance_pack import PointScore
from governance.domain.errors import GovernanceError
from governance.services.compliance.pack_verify import verify_pack
from governance.services.compliance.packs import build_pack
from governance.services.compliance.status import status as scores
from governance.services.registry import versions
from governance.signing import public_key_path

_MARK = {
    "covered": "[green]covered[/]",
    "partial": "[yellow]partial[/]",
    "missing": "[red]missing[/]",
}
_SHORT = {"covered": "[green]✓[/]", "partial": "[yellow]~[/]", "missing": "[red]✗[/]"}


def pack(
    name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[
        str, typer.Argument(help="the version to document: a version, a stage or an alias")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="directory to write (absent or empty); default NAME-VERSION-annex-iv"),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(help="exit non-zero when any point is not covered or retention falls short"),
    ] = False,
) -> None:
    """Build the Annex IV technical documentation of a version, signed, citing its records."""
    gov = governance()
    version = versions.resolve(gov, f"{name}@{version}").version
    target = out or Path(f"{name}-{version}-annex-iv")
    built = build_pack(gov, name, version, target, actor=acting_name(gov), now=now())
    manifest = built.manifest
    console.print(
        f"Annex IV pack for {name}@{version} written to {target} (manifest signed by key "
        f"{manifest.key_fingerprint[:16]}; recorded as event #{built.event_seq})"
    )
    console.print(_points_table(manifest.points))
    cited = [s for item in manifest.items for s in item.sources]
    events = {s.seq for s in cited if s.kind == "event"}
    console.print(
        f"{len(manifest.items)} items cite {len(cited)} sources, {len(events)} of them audit "
        f"events; log slice: {manifest.log.events} events, each checked against the chain."
    )
    shortfalls = manifest.retention.shortfalls
    for shortfall in shortfalls:
        console.print(f"[red]retention shortfall:[/] {shortfall}")
    if not shortfalls:
        console.print(
            f"retention: logs kept {manifest.retention.logs_months} months or more, documentation "
            f"{manifest.retention.documentation_years} years; no shortfall"
        )
    if strict and (built.gaps or shortfalls):
        console.print(
            f"[red]strict:[/] {built.gaps} of 9 points not covered, {len(shortfalls)} retention "
            "shortfall(s)"
        )
        raise typer.Exit(1)


def verify(
    pack_dir: Annotated[Path, typer.Argument(help="a pack directory written by `compliance pack`")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="the signer's Ed25519 public key (PEM); default: this host's, else the pack's copy"
        ),
    ] = None,
) -> None:
    """Check a pack offline: signature, every item's hash, the log slice, every file."""
    key = public_key or _host_public_key()
    checked = verify_pack(pack_dir, key)
    manifest = checked.manifest
    console.print(
        f"pack verified: {manifest.model}@{manifest.version}, signature by key "
        f"{manifest.key_fingerprint[:16]} ({checked.key}), {checked.items} items, "
        f"{checked.files} files, {checked.events} events of the log slice"
    )
    if checked.key_from_pack:
        console.print(
            "[yellow]note:[/] the key is the pack's own copy; compare its fingerprint "
            f"{manifest.key_fingerprint} with the provider's published key"
        )


def _host_public_key() -> Path | None:
    try:
        found = public_key_path(load_settings().resolved_signing_key_file)
    except GovernanceError:  # no usable settings here: the pack's own copy is used
        return None
    return found if found.is_file() else None


def status(
    name: Annotated[str | None, typer.Argument(help="one model; default every model")] = None,
) -> None:
    """The Annex IV gap score of each model's version in service, by risk level."""
    rows = scores(governance(), name)
    table = Table(title="Annex IV coverage (production version, else the newest)")
    for column in ("risk", "model", "version", *map(str, range(1, 10)), "gaps", "Annex III"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.risk_level.value,
            row.model,
            f"{row.version} ({row.stage})",
            *(_SHORT[p.coverage] for p in row.points),
            str(row.gaps),
            "high-risk" if row.high_risk else "",
        )
    console.print(table)


def _points_table(points: list[PointScore]) -> Table:
    table = Table(title="Annex IV gap score")
    for column in ("point", "Annex IV", "coverage", "reason"):
        table.add_column(column)
    for point in points:
        table.add_row(str(point.point), point.title, _MARK[point.coverage], point.reason)
    return table


def register(app: typer.Typer) -> None:
    """Add the pack commands to the `compliance` group."""
    app.command("pack")(pack)
    app.command("verify")(verify)
    app.command("status")(status)
