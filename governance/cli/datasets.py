"""`governance datasets ...`: register and list evaluation datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, current_actor, governance, now
from governance.services.registry import datasets

app = typer.Typer(help="Evaluation datasets used by the gate.", no_args_is_help=True)


@app.command("register")
def register(
    name: str,
    path: Annotated[Path, typer.Argument(help="CSV or parquet file")],
    target: Annotated[str, typer.Option(help="label column")],
    group: Annotated[list[str] | None, typer.Option(help="group column for fairness")] = None,
) -> None:
    """Store a dataset content-addressed and register it by name (as the logged-in person)."""
    gov = governance()
    by = current_actor(gov).name
    data = datasets.register_dataset(
        gov,
        name=name,
        path=path,
        target=target,
        group_columns=group or [],
        actor=by,
        now=now(),
    )
    console.print(f"dataset {data.name}: {data.n_rows} rows, sha256:{data.digest}")


@app.command("list")
def list_datasets() -> None:
    """Registered evaluation datasets."""
    table = Table("name", "rows", "target", "groups", "format", "digest", title="datasets")
    for d in datasets.list_datasets(governance()):
        table.add_row(
            d.name, str(d.n_rows), d.target, ", ".join(d.group_columns), d.format, d.digest[:12]
        )
    console.print(table)
