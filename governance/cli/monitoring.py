"""`governance monitoring`: ingest batches and outcomes, show reference profiles, the latest
findings of each version and its Evidently drift report; `governance audit-retirement`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, current_actor, governance, now
from governance.domain.errors import InvalidInput, NotFound
from governance.services.monitoring import batches, references

app = typer.Typer(help="Monitoring data, findings and drift reports.", no_args_is_help=True)


@app.command("ingest")
def ingest(
    model: str,
    version: str,
    file: Annotated[Path, typer.Argument(help="a .parquet or .csv batch scored elsewhere")],
    labels: Annotated[str | None, typer.Option(help="the column holding true labels")] = None,
    predictions: Annotated[
        str | None, typer.Option(help="the column holding the model's outputs (else it is scored)")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time", help="the column with each row's timestamp")
    ] = None,
) -> None:
    """Store a batch content-addressed and audited, as the logged-in person."""
    gov = governance()
    actor = current_actor(gov)
    batch = batches.ingest(
        gov,
        model=model,
        version=version,
        path=file,
        labels=labels,
        predictions=predictions,
        time_column=time_column,
        actor=actor.name,
        now=now(),
    )
    console.print(
        f"ingested batch {batch.id} for {model}@{version}: {batch.n_rows} rows, "
        f"{batch.n_labels} labels, sha256 {batch.digest[:12]}"
    )


@app.command("outcomes")
def outcomes(
    file: Annotated[Path, typer.Argument(help="a .csv or .parquet of prediction ids and labels")],
    id_column: Annotated[str, typer.Option(help="the prediction id column")] = "prediction_id",
    label_column: Annotated[str, typer.Option(help="the label column")] = "label",
) -> None:
    """Record labels for logged predictions by id: all rows, or none on bad input."""
    gov = governance()
    actor = current_actor(gov)
    count = batches.record_outcomes(
        gov, path=file, id_column=id_column, label_column=label_column, actor=actor.name, now=now()
    )
    console.print(f"recorded {count} outcomes")


@app.command("reference")
def reference(
    model: str,
    version: str,
    set_file: Annotated[
        Path | None, typer.Option("--set", help="store this sample as the reference (once)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the profile as JSON")] = False,
) -> None:
    """Show a version's reference profile (per-column statistics), or set it from a file."""
    gov = governance()
    if set_file is not None:
        actor = current_actor(gov)
        references.set_reference(
            gov, model=model, version=version, path=set_file, actor=actor.name, now=now()
        )
    found, profile = references.get_reference(gov, model, version)
    if as_json:
        console.print_json(json.dumps(profile.model_dump(mode="json")))
        return
    console.print(
        f"{found.ref} reference: {profile.n_rows} rows from {profile.source}, "
        f"sha256 {profile.digest[:12]}, stored {profile.created_at:%Y-%m-%d %H:%M} by "
        f"{profile.created_by}"
    )
    table = Table()
    for name in ("column", "kind", "missing", "unique", "mean", "std", "min", "median", "max"):
        table.add_column(name)
    for column, s in profile.stats["columns"].items():
        table.add_row(
            column,
            s["kind"],
            str(s.get("missing", 0)),
            str(s.get("n_unique")),
            *(_num(s.get(k)) for k in ("mean", "std", "min", "p50", "max")),
        )
    console.print(table)


def _num(value) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("status")
def status(
    model: Annotated[str | None, typer.Argument(help="one model (default: all)")] = None,
) -> None:
    """Each version's latest audit: verdict and every finding."""
    from governance.services.monitoring.retirement_review import latest_findings

    rows = latest_findings(governance(), model)
    if not rows:
        console.print("no audit results yet: run `governance audit-retirement --now`")
        return
    console.print(findings_table(rows))


def findings_table(rows) -> Table:
    """A rich table: one row per version, one column per check."""
    checks = list(dict.fromkeys(f["check"] for r in rows for f in r.findings))
    table = Table(title="retirement audit findings")
    for name in ("version", "verdict", *checks, "checked"):
        table.add_column(name, overflow="fold")
    for r in rows:
        found = {f["check"]: f for f in r.findings}
        cells = [
            f"{found[c]['status']}: {found[c]['message']}" if c in found else "-" for c in checks
        ]
        table.add_row(
            f"{r.model_name}@{r.version}",
            f"{r.verdict}\n{r.reason}",
            *cells,
            f"{r.checked_at:%Y-%m-%d %H:%M}",
        )
    return table


@app.command("report")
def report(model: str, version: str) -> None:
    """The path of the version's latest Evidently drift report (written when it drifted)."""
    from governance.services.monitoring.retirement_review import latest_findings

    gov = governance()
    rows = latest_findings(gov, model, version)
    if not rows:
        raise NotFound(f"{model}@{version} has not been audited yet")
    if not rows[0].report_digest:
        raise NotFound(
            f"{model}@{version} has no drift report: its latest audit "
            f"({rows[0].checked_at:%Y-%m-%d %H:%M}) found no drift"
        )
    from governance.services.monitoring.retirement_audit import report_path

    gov.artifacts.read_verified(rows[0].report_digest)  # the file is the one the audit wrote
    console.print(str(report_path(gov, rows[0].report_digest).resolve()))


def _utc(value: datetime) -> datetime:
    """A command-line time: naive means UTC, as everywhere else in the trail."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audit_retirement(
    run_now: Annotated[bool, typer.Option("--now", help="run the audit now")] = False,
    model: Annotated[list[str] | None, typer.Option(help="only these models")] = None,
    at: Annotated[
        datetime | None,
        typer.Option(
            "--at", help="audit as of this time, UTC unless it names a zone (default: now)"
        ),
    ] = None,
) -> None:
    """Run the retirement audit on demand, and print its findings table."""
    if not run_now:
        raise InvalidInput("audit-retirement runs only with --now (the nightly run is scheduled)")
    from flows.promotion_runs import require_server
    from flows.retirement_audit import close_cached, retirement_audit_flow

    # Reviews of retire verdicts are runs on a real server, where approvers resume them.
    require_server()
    when = _utc(at) if at else now()
    try:
        state = retirement_audit_flow(now=when, models=model or None, return_state=True)
    finally:
        close_cached()  # this process lives on: release the audit's database connections
    if state.is_failed():
        raise InvalidInput(f"retirement audit ended {state.name}: {state.message}")
    from governance.services.monitoring.retirement_review import latest_findings

    rows = latest_findings(governance(), None)
    wanted = [r for r in rows if not model or r.model_name in model]
    console.print(findings_table(wanted))
    console.print(state.message)
