"""`governance experiments`: start an A/B test as the logged-in person, show, stop, list.

`start` checks everything before it changes anything, starts the experiment through the
service, then submits the ab-test deployment run that watches it. Ending an experiment
promotes nothing: the winner goes through `governance promote`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from governance.cli.context import console, current_actor, governance, now
from governance.domain.errors import InvalidInput
from governance.domain.experiments import Experiment
from governance.services.rollout import experiment_checks, experiments

app = typer.Typer(help="A/B experiments on endpoints.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_variants(values: list[str]) -> dict[str, str]:
    """`A=1.0.0` options as {name: version}, in the order given."""
    variants: dict[str, str] = {}
    for value in values:
        name, sep, version = value.partition("=")
        if not sep or not name.strip() or not version.strip():
            raise InvalidInput(f"--variant {value!r}: use NAME=VERSION, e.g. A=1.0.0")
        if name.strip() in variants:
            raise InvalidInput(f"--variant {name.strip()!r} is given twice")
        variants[name.strip()] = version.strip()
    return variants


def parse_split(text: str, variants: dict[str, str]) -> dict[str, int]:
    """`50/50` as {variant: percent}, one share per variant in the order they were given."""
    parts = text.split("/")
    if not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(f"--split {text!r}: use whole percentages like 50/50")
    if len(parts) != len(variants):
        raise InvalidInput(f"--split {text!r} has {len(parts)} shares for {len(variants)} variants")
    return {name: int(p) for name, p in zip(variants, parts, strict=True)}


def parse_until(text: str, start: datetime) -> tuple[int | None, datetime | None]:
    """A bare integer is a sample target; 30m, 2h or 3d is a duration from `start`."""
    if text.strip().isdigit():
        return int(text), None
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput(
            f"--until {text!r}: give a sample count (e.g. 2000) or a duration (30m, 2h, 3d)"
        )
    return None, start + timedelta(**{_UNITS[match[2]]: int(match[1])})


def _describe(found: Experiment) -> str:
    split = ", ".join(f"{n}={v} {found.weights[n]}%" for n, v in found.variants.items())
    rule = (
        f"{found.until_samples} samples"
        if found.until_samples is not None
        else f"until {found.until_at.isoformat() if found.until_at else '?'}"
    )
    return f"{found.endpoint}: {split}; {rule}"


@app.command("start")
def start(
    endpoint: str,
    variant: Annotated[list[str], typer.Option(help="NAME=VERSION, once per variant")],
    split: Annotated[str, typer.Option(help="shares in percent, e.g. 50/50")],
    until: Annotated[str, typer.Option(help="a sample count (2000) or a duration (30m, 2h, 3d)")],
    poll_seconds: Annotated[float, typer.Option(help="how often the flow checks")] = 30.0,
) -> None:
    """Start an A/B experiment as the logged-in person and submit the ab-test run."""
    variants = parse_variants(variant)
    shares = parse_split(split, variants)
    at = now()
    until_samples, until_at = parse_until(until, at)
    if poll_seconds <= 0:
        raise InvalidInput(f"--poll-seconds must be positive, got {poll_seconds}")
    gov = governance()
    actor = current_actor(gov)
    args = (gov, endpoint, variants, shares, until_samples, until_at, actor, at)
    experiment_checks.check_start(*args)
    from flows import ab_test
    from flows.promotion_runs import require_server, ui_link

    require_server()
    ab_test.require_deployment()
    found = experiments.start(*args)
    try:
        run = ab_test.submit(found, poll_seconds=poll_seconds)
    except Exception as exc:
        # Without its watcher nobody would ever end the experiment: end it now, recorded.
        verdict = f"no winner: the ab-test run could not be submitted ({exc})"
        experiments.finish(gov, found.id, {"verdict": verdict, "winner": None}, now(), actor.name)
        raise
    console.print(f"experiment {found.id} started on {_describe(found)}")
    console.print(f"flow run {run.id} ({run.name}): {ui_link(run.id)}")


@app.command("show")
def show(experiment_id: str) -> None:
    """An experiment: its split, samples so far, and when ended, its result."""
    gov = governance()
    state = experiments.status(gov, experiment_id, now())
    found = state.experiment
    console.print(f"experiment {found.id} ({found.status}) on {_describe(found)}")
    console.print(f"started {found.started_at.isoformat()} by {found.started_by}")
    for name in found.variants:
        console.print(
            f"  {name}: {state.predictions[name]} predictions, {state.outcomes[name]} outcomes"
        )
    if found.running:
        return
    result = found.result or {}
    ended = found.ended_at.isoformat() if found.ended_at else "?"
    console.print(f"ended {ended}: {result.get('verdict', found.status)}")
    if result.get("comparisons"):
        table = Table("metric", "variant", "difference", "CI", "p", "significant")
        for c in result["comparisons"]:
            ci = f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]" if c["ci_low"] is not None else ""
            p = f"{c['p_value']:.3g}" if c["p_value"] is not None else ""
            table.add_row(
                c["metric"],
                f"{c['variant']} vs {c['control']}",
                f"{c['difference']:+.4f}",
                ci,
                p,
                "yes" if c["significant"] else "no",
            )
        console.print(table)
    if result.get("report"):
        console.print(f"report: {gov.artifacts.path_for(result['report']['digest'])}")


@app.command("stop")
def stop(
    experiment_id: str,
    reason: Annotated[str, typer.Option(help="why it is stopped early")] = "",
) -> None:
    """Stop a running experiment early (ml_lead), with no verdict; routing drops the split."""
    gov = governance()
    stopped = experiments.stop(gov, experiment_id, current_actor(gov), now(), reason=reason)
    console.print(f"experiment {stopped.id} stopped: {stopped.result['verdict']}")


@app.command("list")
def list_() -> None:
    """Every experiment, newest first."""
    gov = governance()
    table = Table("id", "endpoint", "status", "variants", "started", "verdict")
    for found in experiments.list_experiments(gov):
        table.add_row(
            found.id,
            found.endpoint,
            found.status,
            ", ".join(f"{n}={v} {found.weights[n]}%" for n, v in found.variants.items()),
            found.started_at.isoformat(timespec="seconds"),
            (found.result or {}).get("verdict", ""),
        )
    console.print(table)
