"""Endpoints: live routing, the routing history as a chart, canaries, A/B tests, and "at T"."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup

from governance.domain.errors import InvalidInput
from governance.domain.identity import VerifiedActor
from governance.server.console.charts import routing_chart
from governance.server.console.render import render
from governance.server.console.web_session import gov_of, now, viewer
from governance.services.rollout import endpoints, experiments, strategies
from governance.services.rollout.provenance import served_at

router = APIRouter()


def parse_at(value: str) -> datetime | None:
    """`?at=`: an ISO time; one without a zone (a browser's datetime-local) is UTC."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"at={value!r} is not a time: give it as ISO 8601, e.g. 2026-11-23T10:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.get("/endpoints")
def endpoints_list(request: Request, actor: VerifiedActor = Depends(viewer)):
    """Every endpoint with its live routing."""
    return render(
        request, "endpoints/list.html.j2", views=endpoints.list_endpoints(gov_of(request))
    )


@router.get("/endpoints/{name}")
def endpoint_page(
    name: str, request: Request, at: str = "", actor: VerifiedActor = Depends(viewer)
):
    """An endpoint: live spec, weights over time, canaries, A/B results, what served at T."""
    gov = gov_of(request)
    view = endpoints.show(gov, name)
    history = endpoints.history(gov, name)
    when = parse_at(at)
    answer, at_error = None, ""
    if when is not None:
        try:
            answer = served_at(gov, name, when)
        except InvalidInput as exc:  # before the endpoint existed: the rest of the page stands
            at_error = str(exc)
    tests = [e for e in experiments.list_experiments(gov) if e.endpoint == name]
    return render(
        request,
        "endpoints/endpoint.html.j2",
        status=422 if at_error else 200,
        view=view,
        spec=view.spec.spec,
        history=history,
        chart=Markup(routing_chart(history, max(now(), history[-1].created_at))),
        rollouts=strategies.rollouts_of(gov, name),
        experiments=tests,
        at=at,
        answer=answer,
        at_error=at_error,
    )
