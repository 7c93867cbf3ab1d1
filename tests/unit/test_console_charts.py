"""The routing chart: each version's weight as steps over the endpoint's specs, drawn as SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from governance.domain.rollout import RoutingSpec, SpecVersion
from governance.server.console.charts import chart_end, routing_chart, weight_series

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def spec(number: int, minutes: int, reason: str = "test", **fields) -> SpecVersion:
    """Spec `number` of churn-api, written `minutes` after T0."""
    return SpecVersion(
        id=number,
        endpoint="churn-api",
        number=number,
        spec=RoutingSpec(**fields),
        actor="carol",
        reason=reason,
        created_at=T0 + timedelta(minutes=minutes),
    )


CANARY = [
    spec(1, 0, stable="1.0.0"),
    spec(2, 10, stable="1.0.0", canary="1.1.0", canary_weight=10),
    spec(3, 20, "<script>alert(1)</script>", stable="1.0.0", canary="1.1.0", canary_weight=50),
    spec(4, 40, stable="1.1.0"),
]


def test_each_version_steps_through_its_weights_from_spec_to_spec():
    series = weight_series(CANARY, T0 + timedelta(minutes=50))
    at = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert series == {
        "1.0.0": [(at(0), 100), (at(10), 100), (at(10), 90), (at(20), 90), (at(20), 50),
                  (at(40), 50), (at(40), 0), (at(50), 0)],
        "1.1.0": [(at(0), 0), (at(10), 0), (at(10), 10), (at(20), 10), (at(20), 50),
                  (at(40), 50), (at(40), 100), (at(50), 100)],
    }  # fmt: skip


def test_the_axis_ends_a_quarter_past_the_last_change_when_routing_has_long_been_calm():
    assert chart_end(CANARY, T0 + timedelta(days=14)) == T0 + timedelta(minutes=50)
    assert chart_end(CANARY, T0 + timedelta(minutes=45)) == T0 + timedelta(minutes=45)
    assert chart_end(CANARY[:1], T0) == T0 + timedelta(minutes=1)


def test_the_svg_has_one_polyline_per_version_and_escapes_reasons():
    svg = routing_chart(CANARY, T0 + timedelta(days=14))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert re.findall(r'<polyline data-version="([^"]+)"', svg) == ["1.0.0", "1.1.0"]
    assert "<script>" not in svg
    assert "spec 3: &lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "2026-11-23 12:50 UTC" in svg
