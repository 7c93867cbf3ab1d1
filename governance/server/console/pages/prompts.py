"""Prompts: the list, a prompt's versions, a diff of two, the production pointer, and "at T"."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from governance.domain.identity import VerifiedActor
from governance.domain.prompts import production_at
from governance.server.console.pages.diffs import diff_lines
from governance.server.console.pages.endpoints import parse_at
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, viewer
from governance.services.prompts import prompt_registry

router = APIRouter()


@router.get("/prompts")
def prompts_list(request: Request, actor: VerifiedActor = Depends(viewer)):
    """Every prompt: its versions, the latest's status and the production version."""
    return render(request, "prompts/list.html.j2", rows=prompt_registry.listing(gov_of(request)))


@router.get("/prompts/{prompt_id}")
def prompt_page(
    prompt_id: str,
    request: Request,
    a: str = "",
    b: str = "",
    at: str = "",
    actor: VerifiedActor = Depends(viewer),
):
    """A prompt's versions, the diff of two (the newest two by default), its pointer, "at T"."""
    gov = gov_of(request)
    found = prompt_registry.versions(gov, prompt_id)
    moves = prompt_registry.history(gov, prompt_id)
    names = [v.version for v in found]
    b = b or names[-1]
    a = a or (names[-2] if len(names) > 1 else names[-1])
    diff = diff_lines(prompt_registry.diff(gov, prompt_id, a, b))
    when = parse_at(at)
    held, at_error = None, ""
    if when is not None:
        held = production_at(moves, when)
        if held is None:
            at_error = f"{prompt_id} had no production version at {when.isoformat()}"
    production = moves[-1].version if moves else None
    return render(
        request,
        "prompts/prompt.html.j2",
        status=422 if at_error else 200,
        prompt_id=prompt_id,
        versions=found,
        production=production,
        moves=moves,
        a=a,
        b=b,
        diff=diff,
        at=at,
        when=when,
        held=held,
        at_error=at_error,
    )
