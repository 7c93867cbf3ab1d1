"""`governance models ...`: register, list, show, cards, transitions, aliases, verification."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from governance.cli.context import brief, console, current_actor, governance, now
from governance.domain.cards import ModelCard
from governance.domain.errors import InvalidInput, MalformedCard, ModelNotFound
from governance.domain.models import (
    LifecycleStage,
    ModelKind,
    RegisteredModel,
    RiskLevel,
    parse_semver,
)
from governance.reports import model_card as documents
from governance.reports.card_yaml import load_card_yaml
from governance.services.registry import cards, versions
from governance.services.registry.versions import VersionSpec
from governance.services.rollout import continuity
from governance.services.trust import audit

app = typer.Typer(help="Register and inspect model versions.", no_args_is_help=True)


class CardFormat(StrEnum):
    """Output formats of `models card`."""

    md = "md"
    html = "html"
    json = "json"
    hf = "hf"
    cyclonedx = "cyclonedx"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}") from None


def load_card_file(path: Path) -> ModelCard:
    """Read a card YAML file; MalformedCard names the file and the problem."""
    try:
        return load_card_yaml(_read(path, "card").decode("utf-8"))
    except MalformedCard as exc:
        raise MalformedCard(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise MalformedCard(f"{path}: not UTF-8 text") from None


def _check_card_identity(card: ModelCard, name: str, version: str) -> None:
    # A card written for another model or version is almost always the wrong file.
    for field, expected in (("name", name), ("version", version)):
        stated = getattr(card, field)
        if stated and stated != expected:
            raise MalformedCard(f"card {field} is {stated!r} but you are registering {expected!r}")


def _new_model(name: str, card: ModelCard, description: str, kind: ModelKind) -> RegisteredModel:
    missing = [f for f in ("owner", "team", "risk_level") if not getattr(card, f)]
    if missing:
        raise MalformedCard(f"new model {name!r}: the card must state {', '.join(missing)}")
    return RegisteredModel(
        name=name,
        owner=card.owner,
        team=card.team,
        risk_level=card.risk_level,
        kind=kind,
        description=description or card.intended_use[:200],
    )


def _llm_config(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        config = yaml.safe_load(_read(path, "LLM config"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"LLM config {path} is not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise InvalidInput(f"LLM config {path} must be a mapping (base_model, provider, ...)")
    return config


@app.command("register")
def register(
    name: str,
    version: str,
    card: Annotated[Path, typer.Option(help="model card YAML")],
    artifact: Annotated[Path | None, typer.Option(help="skops file (sklearn models)")] = None,
    llm_config: Annotated[
        Path | None, typer.Option(help="YAML with base_model, provider, parameters (LLM models)")
    ] = None,
    description: Annotated[str, typer.Option(help="model description (new models)")] = "",
) -> None:
    """Register a version as the logged-in person (the registrant), with its card and payload."""
    gov = governance()
    by = current_actor(gov).name
    parse_semver(version)
    card_obj = load_card_file(card)
    _check_card_identity(card_obj, name, version)
    data = _read(artifact, "artifact") if artifact else None
    config = _llm_config(llm_config)
    spec = VersionSpec(
        name=name,
        version=version,
        created_by=by,
        llm_config=config,
        training_data_version=card_obj.training_data_version,
        training_pipeline=card_obj.training_pipeline,
        hyperparameters=card_obj.hyperparameters,
        metrics=card_obj.evaluation_metrics,
    )
    with gov.store.read() as tx:
        exists = tx.registry.find_model(name) is not None
    kind = ModelKind.llm if config is not None else ModelKind.sklearn
    model = None if exists else _new_model(name, card_obj, description, kind)
    saved = versions.register_version(
        gov, spec, card_obj, artifact=data, now=now(), new_model=model
    )
    payload = f"sha256:{saved.artifact_digest}" if saved.artifact_digest else "LLM config"
    console.print(f"registered {saved.ref} ({saved.stage.value}) {payload}")


@app.command("list")
def list_versions(
    stage: Annotated[LifecycleStage | None, typer.Option(help="only this stage")] = None,
    risk: Annotated[RiskLevel | None, typer.Option(help="only this risk level")] = None,
    owner: Annotated[str | None, typer.Option(help="only this owner")] = None,
    name: Annotated[str | None, typer.Option(help="only this model")] = None,
) -> None:
    """List versions, filtered by stage, risk level, owner or model."""
    gov = governance()
    models = {m.name: m for m in _models(gov)}
    rows = versions.search(gov, stage=stage, risk_level=risk, owner=owner, name=name)
    table = Table(
        "model",
        "version",
        "stage",
        "risk",
        "owner",
        "registered by",
        "registered",
        "artifact",
        title="model versions",
    )
    for v in rows:
        m = models[v.model_name]
        table.add_row(
            v.model_name,
            v.version,
            v.stage.value,
            m.risk_level.value,
            m.owner,
            v.created_by,
            f"{v.created_at:%Y-%m-%d %H:%M}",
            (v.artifact_digest or "-")[:12],
        )
    console.print(table)


def _models(gov) -> list[RegisteredModel]:
    with gov.store.read() as tx:
        return tx.registry.list_models()


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION, NAME@STAGE or NAME@ALIAS")]):
    """Show one version: model, stage, artifact, aliases and card."""
    view = versions.show(governance(), ref)
    m, v = view.model, view.version
    table = Table(show_header=False, title=f"{v.ref}")
    facts = {
        "model": f"{m.name} ({m.kind.value}, {m.risk_level.value} risk)",
        "owner / team": f"{m.owner} / {m.team}",
        "stage": v.stage.value + (f" (sunset {v.sunset_at:%Y-%m-%d})" if v.sunset_at else ""),
        "aliases": ", ".join(view.aliases) or "-",
        "artifact": f"{v.artifact_uri} sha256:{v.artifact_digest}",
        "training data": v.training_data_version,
        "pipeline": v.training_pipeline,
        "metrics": json.dumps(v.metrics),
        "registered": f"{v.created_at:%Y-%m-%d %H:%M} by {v.created_by}",
        "card": f"revision {view.card.revision}, hash {view.card.card_hash[:16]}"
        if view.card
        else "-",
    }
    for key, value in facts.items():
        table.add_row(key, value)
    console.print(table)


@app.command("card")
def card(
    name: str,
    version: str,
    format: Annotated[CardFormat, typer.Option("--format", help="output format")] = CardFormat.md,
    revision: Annotated[int | None, typer.Option(help="an older revision")] = None,
    out: Annotated[Path | None, typer.Option(help="write to this file")] = None,
) -> None:
    """Render a version's card as Markdown, HTML, JSON, a Hugging Face README or CycloneDX."""
    gov = governance()
    revisions = cards.card_revisions(gov, name, version)
    chosen = [r for r in revisions if revision is None or r.revision == revision]
    if not chosen:
        raise InvalidInput(f"{name}@{version} has no card revision {revision}")
    text = _render(chosen[-1], format, versions.resolve(gov, f"{name}@{version}"))
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        print(text)


def _render(rev, format: CardFormat, version) -> str:
    if format == CardFormat.md:
        return documents.render_markdown(
            rev.card, stage=version.stage.value, card_hash=rev.card_hash
        )
    if format == CardFormat.html:
        return documents.render_html(rev.card, stage=version.stage.value, card_hash=rev.card_hash)
    if format == CardFormat.json:
        return documents.render_json(rev.card)
    if format == CardFormat.hf:
        return documents.render_huggingface_readme(rev.card)
    bom = documents.render_cyclonedx(rev.card, artifact_digest=version.artifact_digest)
    return json.dumps(bom, indent=2, sort_keys=True)


@app.command("revise-card")
def revise_card(name: str, version: str, card: Annotated[Path, typer.Option()]) -> None:
    """Store a new revision of a version's card (identity and risk come from the registry)."""
    gov = governance()
    by = current_actor(gov).name
    card_obj = load_card_file(card)
    _check_card_identity(card_obj, name, version)
    rev = cards.revise_card(gov, name, version, card_obj, actor=by, now=now())
    console.print(f"{name}@{version}: card revision {rev.revision}, hash {rev.card_hash[:16]}")


@app.command("transition")
def transition(
    name: str,
    version: str,
    stage: LifecycleStage,
    reason: Annotated[str, typer.Option(help="why (recorded; required for deprecated)")] = "",
    outage: Annotated[
        str,
        typer.Option(
            help="an ml_lead accepting that an endpoint serving only this version will have "
            "nothing to serve (at its sunset, or at once when retiring): name the outage"
        ),
    ] = "",
) -> None:
    """Retire or deprecate a version; staging and production are entered only by `promote`."""
    gov = governance()
    actor = current_actor(gov)
    moved = continuity.transition(
        gov, name, version, stage, actor=actor, now=now(), reason=reason, outage=outage
    )
    console.print(f"{moved.ref} is now {moved.stage.value}")
    alone = continuity.serving_alone(gov, moved)
    if alone and not outage.strip():
        console.print(
            f"{', '.join(alone)} keeps serving {moved.version} past its sunset until a "
            "successor is promoted (no outage was accepted)"
        )


@app.command("rollback")
def rollback(
    name: str,
    version: str,
    reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
) -> None:
    """Bring a deprecated version back to production inside its grace period (ml_lead)."""
    from governance.services.rollout import rollback as rollbacks

    gov = governance()
    actor = current_actor(gov)
    restored = rollbacks.rollback(
        gov, model=name, version=version, actor=actor, reason=reason, now=now()
    )
    console.print(f"{restored.ref} is production again (rolled back by {actor.name})")


@app.command("risk")
def risk(
    name: str,
    level: RiskLevel,
    reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
) -> None:
    """Change a model's risk level (a verified risk_officer; audited)."""
    from governance.services.registry import risk as risks

    gov = governance()
    changed = risks.change_risk(
        gov, name, level, actor=current_actor(gov), reason=reason, now=now()
    )
    console.print(f"{changed.name} is now at {changed.risk_level.value} risk")


@app.command("alias")
def alias(name: str, alias: str, version: str) -> None:
    """Point NAME@ALIAS at a version."""
    gov = governance()
    versions.set_alias(gov, name, alias, version, actor=current_actor(gov).name, now=now())
    console.print(f"{name}@{alias} -> {version}")


@app.command("verify")
def verify(name: str, version: str) -> None:
    """Check a version's row against its registration event, its artifact digest, and that it
    loads with the trusted-type allow-list."""
    loaded = versions.verify_artifact(governance(), name, version)
    console.print(f"{name}@{version}: artifact digest matches, loads as {loaded}")


@app.command("history")
def history(name: str, version: Annotated[str | None, typer.Option(help="one version")] = None):
    """The audit events of a model (or one of its versions)."""
    events = audit.history(governance(), model=name, version=version)
    if not events:
        raise ModelNotFound(f"no events for {name!r}")
    table = Table(
        "seq", "time (UTC)", "event", "version", "actor", "details", title=f"history of {name}"
    )
    for e in events:
        table.add_row(
            str(e.seq),
            e.ts[:19].replace("T", " "),
            e.event_type,
            e.version or "-",
            e.actor,
            brief(e.details),
        )
    console.print(table)
