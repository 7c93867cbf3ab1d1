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
from rich.text import Text

from governance.cli.context import console, current_actor, governance, now
from governance.domain.errors import InvalidInput, NotFound
from governance.domain.monitoring import AuditRow
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
    columns: Annotated[
        bool, typer.Option("--columns", help="per-column drift: type, method, score, verdict")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="verdicts, findings and column drift as JSON")
    ] = False,
) -> None:
    """Each version's latest audit: verdict and every finding (or its per-column drift)."""
    from governance.services.monitoring.retirement_review import latest_findings

    rows = latest_findings(governance(), model)
    if as_json:
        # Plain stdout, not rich: nothing but the document, never wrapped or highlighted.
        document = {"versions": [r.document() for r in rows]}
        typer.echo(json.dumps(document, indent=2, allow_nan=False))
        return
    if not rows:
        console.print("no audit results yet: run `governance audit-retirement --now`")
        return
    if not columns:
        console.print(findings_table(rows))
        return
    for row in rows:
        table = drift_table(row)
        if table is None:
            console.print(_no_drift_test(row), markup=False)
            continue
        console.print(table)
        # A line of its own, never wrapped; column names are data, not rich markup.
        console.print(row.drift_finding()["message"], markup=False)


def drift_table(row: AuditRow) -> Table | None:
    """One version's drift per column, or None when its latest audit ran no drift test."""
    records = row.drift_columns()
    if records is None:
        return None
    table = Table(
        title=f"{row.model_name}@{row.version} drift per column, audit of "
        f"{row.checked_at:%Y-%m-%d %H:%M}"
    )
    for name in ("column", "type", "method", "score", "threshold", "drifted"):
        table.add_column(name, overflow="fold")
    for c in records:
        kind, was = c["kind"], c["reference_kind"]
        table.add_row(
            Text(c["column"]),
            # Audits before the type was recorded have none; a retyped column shows both.
            "-" if kind is None else kind if kind == was else f"{kind} (reference: {was})",
            c["method"],
            _num(c["score"]),
            _num(c["threshold"]),
            "yes" if c["drifted"] else "no",
        )
    return table


def _no_drift_test(row: AuditRow) -> str:
    """The line for a version whose latest audit tested no column, saying why."""
    finding = row.drift_finding()
    why = finding["message"] if finding else "it recorded no drift finding"
    return (
        f"{row.model_name}@{row.version}: no drift test in its latest audit "
        f"({row.checked_at:%Y-%m-%d %H:%M}): {why}"
    )


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
    from flows import clock
    from flows.promotion_runs import require_server
    from flows.retirement_audit import close_cached, retirement_audit_flow

    # Reviews of retire verdicts are runs on a real server, where approvers resume them.
    require_server()
    when = _utc(at) if at else now()
    try:
        # The flow runs in this process: --at moves its clock here, not through a parameter.
        with clock.running_at(when):
            state = retirement_audit_flow(models=model or None, return_state=True)
    finally:
        close_cached()  # this process lives on: release the audit's database connections
    if state.is_failed():
        raise InvalidInput(f"retirement audit ended {state.name}: {state.message}")
    from governance.services.monitoring.retirement_review import latest_findings

    rows = latest_findings(governance(), None)
    wanted = [r for r in rows if not model or r.model_name in model]
    console.print(findings_table(wanted))
    console.print(state.message)
