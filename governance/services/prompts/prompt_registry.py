"""The prompt registry: register, submit, read, render, roll back, and ask what served when."""

from __future__ import annotations

import difflib
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import DuplicateContent, PromptNotFound
from governance.domain.identity import VerifiedActor
from governance.domain.prompts import (
    PointerMove,
    PromptStatus,
    PromptVersion,
    check_move,
    check_prompt_id,
    check_render_variables,
    check_rollback_target,
    check_variables,
    next_version,
    parse_prompt_ref,
    production_at,
    template_digest,
)
from governance.llm import templates
from governance.services.prompts.prompt_canary import stop_in
from governance.services.trust.roles import LEAD_ROLE, require_role
from governance.store.unit_of_work import Transaction


def register(
    gov: Governance,
    *,
    prompt_id: str,
    template: str,
    actor: VerifiedActor,
    now: datetime,
    bump: str = "patch",
    variables: list[str] | None = None,
    description: str = "",
) -> PromptVersion:
    """Register the next version of a prompt as a draft, by the verified session person."""
    check_prompt_id(prompt_id)
    declared = check_variables(variables, templates.check_template(template))
    digest = template_digest(template)
    with gov.store.write() as tx:
        known = tx.prompts.versions(prompt_id)
        latest = known[-1] if known else None
        if latest is not None and latest.template_digest == digest:
            raise DuplicateContent(
                f"{prompt_id}: the template is identical to the latest version {latest.version}"
            )
        version = PromptVersion(
            prompt_id=prompt_id,
            version=next_version(latest.version if latest else None, bump),
            template=template,
            template_digest=digest,
            variables=declared,
            description=description,
            created_by=actor.name,
            created_at=now,
        )
        saved = tx.prompts.add_version(version)
        _audit(
            tx,
            "prompt.registered",
            saved,
            actor.name,
            now,
            template_digest=digest,
            variables=declared,
            bump=bump,
            previous=latest.version if latest else None,
        )
        return saved


def submit(gov: Governance, ref: str, *, actor: VerifiedActor, now: datetime) -> PromptVersion:
    """Move a draft to review: the status promote-prompt starts from."""
    with gov.store.write() as tx:
        found = resolve_in(tx, ref)
        check_move(found, PromptStatus.review)
        tx.prompts.set_status(found.prompt_id, found.version, PromptStatus.review, now)
        _audit(tx, "prompt.submitted", found, actor.name, now, status="review")
        return tx.prompts.get_version(found.prompt_id, found.version)


def resolve_in(tx: Transaction, ref: str) -> PromptVersion:
    """The version `id`, `id@VERSION` or `id@production` names (`id` alone: the latest)."""
    parsed = parse_prompt_ref(ref)
    if parsed.is_production:
        move = tx.prompts.production(parsed.prompt_id)
        if move is None:
            raise PromptNotFound(f"{parsed.prompt_id} has no production version yet")
        return tx.prompts.get_version(parsed.prompt_id, move.version)
    if parsed.selector:
        return tx.prompts.get_version(parsed.prompt_id, parsed.selector)
    known = tx.prompts.versions(parsed.prompt_id)
    if not known:
        raise PromptNotFound(f"unknown prompt {parsed.prompt_id!r}")
    return known[-1]


def resolve(gov: Governance, ref: str) -> PromptVersion:
    """resolve_in on a read transaction."""
    with gov.store.read() as tx:
        return resolve_in(tx, ref)


def listing(gov: Governance) -> list[dict]:
    """One row per prompt: versions, the latest and its status, and the production version."""
    with gov.store.read() as tx:
        rows = []
        for prompt_id in tx.prompts.prompt_ids():
            versions = tx.prompts.versions(prompt_id)
            move = tx.prompts.production(prompt_id)
            rows.append(
                {
                    "prompt_id": prompt_id,
                    "versions": len(versions),
                    "latest": versions[-1].version,
                    "latest_status": versions[-1].status.value,
                    "production": move.version if move else None,
                }
            )
        return rows


def versions(gov: Governance, prompt_id: str) -> list[PromptVersion]:
    """Every version of a prompt, oldest first; PromptNotFound when there is none."""
    with gov.store.read() as tx:
        found = tx.prompts.versions(check_prompt_id(prompt_id))
    if not found:
        raise PromptNotFound(f"unknown prompt {prompt_id!r}")
    return found


def diff(gov: Governance, prompt_id: str, old: str, new: str) -> str:
    """A unified diff of two versions' templates."""
    with gov.store.read() as tx:
        a = resolve_in(tx, f"{prompt_id}@{old}")
        b = resolve_in(tx, f"{prompt_id}@{new}")
    return unified_diff(a, b)


def unified_diff(a: PromptVersion | None, b: PromptVersion) -> str:
    """The unified diff from `a` (None: nothing yet) to `b`, labelled with their refs."""
    before = a.template.splitlines(keepends=True) if a else []
    lines = difflib.unified_diff(
        before, b.template.splitlines(keepends=True), a.ref if a else "/dev/null", b.ref
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def render(gov: Governance, ref: str, variables: dict[str, object]) -> tuple[PromptVersion, str]:
    """The version a reference names and its template rendered in the sandbox."""
    found = resolve(gov, ref)
    check_render_variables(found, variables)
    return found, templates.render(found.template, variables)


def history(gov: Governance, prompt_id: str) -> list[PointerMove]:
    """Every move of the production pointer, oldest first; PromptNotFound for no prompt."""
    with gov.store.read() as tx:
        if not tx.prompts.exists(check_prompt_id(prompt_id)):
            raise PromptNotFound(f"unknown prompt {prompt_id!r}")
        return tx.prompts.moves(prompt_id)


def at(gov: Governance, prompt_id: str, when: datetime) -> PointerMove:
    """The move that held production at `when`: the version, who moved it, who approved it."""
    held = production_at(history(gov, prompt_id), when)
    if held is None:
        raise PromptNotFound(f"{prompt_id} had no production version at {when.isoformat()}")
    return held


def rollback(
    gov: Governance,
    prompt_id: str,
    *,
    to: str,
    actor: VerifiedActor,
    reason: str = "",
    now: datetime,
) -> PointerMove:
    """Move the pointer back to an earlier approved version at once; a verified ml_lead only."""
    require_role(gov, actor, LEAD_ROLE, "prompt rollback")
    why = (reason or "").strip() or "rollback"
    with gov.store.write() as tx:
        target = tx.prompts.get_version(check_prompt_id(prompt_id), to)
        current = tx.prompts.production(prompt_id)
        check_rollback_target(target, current.version if current else None)
        running = tx.prompts.running_rollout(prompt_id)
        if running is not None:
            stop_in(tx, running, now, f"rolled back by {actor.name}: {why}", actor.name)
        return move_pointer_in(
            tx,
            target,
            kind="rollback",
            actor=actor.name,
            now=now,
            reason=why,
            approvers=approvers_of_in(tx, target),
        )


def move_pointer_in(
    tx: Transaction,
    target: PromptVersion,
    *,
    kind: str,
    actor: str,
    now: datetime,
    reason: str,
    request_id: str | None = None,
    approvers: list[dict[str, str]] | None = None,
) -> PointerMove:
    """Append a pointer move to `target` and its audit event (the caller checked the door)."""
    current = tx.prompts.production(target.prompt_id)
    move = PointerMove(
        prompt_id=target.prompt_id,
        version=target.version,
        previous_version=current.version if current else None,
        kind=kind,  # type: ignore[arg-type]
        moved_by=actor,
        moved_at=now,
        request_id=request_id,
        approvers=approvers or [],
        reason=reason,
    )
    tx.prompts.add_move(move)
    event = "prompt.rolled_back" if kind.endswith("rollback") else "prompt.promoted"
    _audit(
        tx,
        event,
        target,
        actor,
        now,
        **move.model_dump(mode="json", exclude={"prompt_id", "version"}),
    )
    return move


def approvers_of_in(tx: Transaction, version: PromptVersion) -> list[dict[str, str]]:
    """Who approved the promotion that first put `version` in production."""
    for move in tx.prompts.moves(version.prompt_id):
        if move.version == version.version and move.request_id:
            return move.approvers
    return []


def _audit(
    tx: Transaction, event: str, version: PromptVersion, actor: str, now: datetime, **details
) -> None:
    """One audit event about a prompt version, in the caller's transaction."""
    tx.audit.append(
        event,
        actor=actor,
        now=now,
        model=version.prompt_id,
        version=version.version,
        details={"subject": "prompt", **details},
    )
