"""`governance prompts promote` and `governance prompts suites ...`: the gate's inputs and door."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from governance.cli.context import (
    console,
    current_actor,
    governance,
    handed_to_client,
    now,
)
from governance.domain.errors import InvalidInput
from governance.domain.prompts import parse_prompt_ref
from governance.services.prompts import prompt_evaluation

suites_app = typer.Typer(help="Golden-case suites the prompt gate runs.", no_args_is_help=True)


@suites_app.command("register")
def register_suite(
    name: str, path: Annotated[Path, typer.Argument(help="suite YAML (promptfoo-like)")]
) -> None:
    """Register a suite YAML content-addressed under NAME (as the logged-in person)."""
    gov = governance()
    saved = prompt_evaluation.register_suite(
        gov, name=name, path=path, actor=current_actor(gov).name, now=now()
    )
    console.print(f"registered suite {saved.ref} ({saved.n_cases} cases) sha256:{saved.digest}")


@suites_app.command("list")
def list_suites() -> None:
    """Every suite registration: name, digest, cases, who and when."""
    gov = governance()
    with gov.store.read() as tx:
        rows = tx.prompts.suites()
    table = Table("suite", "digest", "cases", "registered by", "at")
    for row in rows:
        table.add_row(row.name, row.digest[:12], str(row.n_cases), row.registered_by,
                      row.registered_at.isoformat(timespec="seconds"))  # fmt: skip
    console.print(table)


def _target(
    llm: str | None, function: str | None, base_url: str | None, model: str | None,
    api_key_env: str | None, target_file: Path | None,
) -> tuple[dict[str, Any] | None, str | None]:  # fmt: skip
    """The flow's target parameters from exactly one of the target options."""
    given = [x for x in (llm, function, base_url, target_file) if x]
    if len(given) != 1:
        raise InvalidInput(
            "name exactly one target: --llm MODEL@VERSION, --callable module:function, "
            "--base-url URL --model NAME, or --target-file FILE"
        )
    if llm:
        return None, llm
    if function:
        return {"kind": "callable", "function": function}, None
    if base_url:
        if not model:
            raise InvalidInput("--base-url needs --model: the model name the endpoint serves")
        config = {"kind": "openai", "base_url": base_url, "model": model}
        return config | ({"api_key_env": api_key_env} if api_key_env else {}), None
    try:
        loaded = yaml.safe_load(Path(target_file or "").read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read target file {target_file}: {exc}") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"target file {target_file} must hold a mapping")
    return loaded, None


def promote(
    ref: Annotated[str, typer.Argument(help="ID@VERSION of a version in review")],
    suite: Annotated[str, typer.Option(help="registered suite: NAME or NAME@DIGEST")],
    llm: Annotated[str | None, typer.Option(help="an LLM model version to call")] = None,
    function: Annotated[
        str | None, typer.Option("--callable", help="a Python target module:function")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL")] = None,
    model: Annotated[str | None, typer.Option(help="model name at --base-url")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="env var holding the API key")] = None,
    target_file: Annotated[Path | None, typer.Option(help="YAML target config")] = None,
    strategy: Annotated[str, typer.Option(help="direct or canary")] = "direct",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait for the end")] = True,
) -> int:
    """Start promote-prompt as the logged-in person; wait for the end unless --no-wait."""
    from flows import promotion_runs

    parsed = parse_prompt_ref(ref)
    if not parsed.selector or parsed.is_production:
        raise InvalidInput(f"name the version to promote: ID@VERSION, got {ref!r}")
    if strategy not in ("direct", "canary"):
        raise InvalidInput(f"unknown strategy {strategy!r}: expected direct or canary")
    target, llm_model = _target(llm, function, base_url, model, api_key_env, target_file)
    gov = governance()
    parameters = {
        "prompt_id": parsed.prompt_id, "version": parsed.selector, "suite": suite,
        "target": target, "llm_model": llm_model, "strategy": strategy,
    }  # fmt: skip
    run = promotion_runs.submit_prompt_promotion(gov, current_actor(gov), parameters, now=now())
    console.print(f"flow run {run.id} ({run.name}): {promotion_runs.ui_link(run.id)}")
    if not wait or handed_to_client(run.id, ref, "Promoted"):
        return 0
    final = promotion_runs.wait_for_end(run.id)
    message = f": {final.state.message}" if final.state.message else ""
    console.print(f"{ref}: {final.state.name}{message}", markup=False, highlight=False)
    return 0 if final.state.name == "Promoted" else 1
