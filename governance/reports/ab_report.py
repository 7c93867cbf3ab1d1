"""The A/B test report: one self-contained HTML page (plotly.js embedded), stored by digest.

It renders from the stored result JSON, so the page can be rebuilt from the database alone
and opens offline: no script or style is fetched from anywhere.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from governance.domain.experiments import Experiment
from governance.ml.artifacts import ArtifactStore, StoredArtifact

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "table{border-collapse:collapse;margin:1rem 0}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    ".invalid{color:#b00020;font-weight:bold}"
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("—" if value is None else str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def metric_names(result: dict) -> list[str]:
    """Accuracy first, then the business metrics in name order."""
    found = {m for v in result["variants"] for m in v["intervals"]}
    return sorted(found, key=lambda m: (m != "accuracy", m))


def value_of(variant: dict, metric: str) -> float | None:
    """A variant's value of one metric: its accuracy or a business metric's mean."""
    return variant["accuracy"] if metric == "accuracy" else variant["means"].get(metric)


def figure(result: dict, metric: str) -> go.Figure:
    """Bars of one metric per variant, with each variant's confidence interval as error bars."""
    names, values, up, down = [], [], [], []
    for variant in result["variants"]:
        value, bounds = value_of(variant, metric), variant["intervals"].get(metric)
        if value is None or bounds is None:
            continue
        names.append(f"{variant['name']} ({variant['version']})")
        values.append(value)
        low, high = (value if b is None else b for b in bounds)  # None: a NaN in the JSON
        up.append(max(0.0, high - value))
        down.append(max(0.0, value - low))
    bars = go.Bar(
        x=names,
        y=values,
        error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
    )
    fig = go.Figure(bars)
    level = round(100 * (1 - result["alpha"]))
    fig.update_layout(
        title=f"{metric} per variant ({level}% CI)", height=360, margin={"t": 50, "b": 40}
    )
    return fig


def render_html(experiment: Experiment, result: dict) -> str:
    """The whole report page: verdict, SRM check, per-variant table, tests and charts."""
    srm = result.get("srm")
    verdict_class = "" if result.get("valid", True) else ' class="invalid"'
    parts = [
        f"<h1>A/B test {html.escape(experiment.id)} on {html.escape(experiment.endpoint)}</h1>",
        f"<p{verdict_class}>{html.escape(result['verdict'])}</p>",
        "<p>Ending an experiment promotes nothing: a winner reaches production only "
        "through promote-model.</p>",
        f"<p>Started {experiment.started_at.isoformat()} by {html.escape(experiment.started_by)};"
        f" split {html.escape(str(experiment.weights))}; alpha {result['alpha']}.</p>",
    ]
    if srm:
        parts.append("<h2>Sample ratio</h2>")
        parts.append(
            _table(
                ["variant", "observed", "expected"],
                [[n, srm["observed"][n], srm["expected"][n]] for n in srm["observed"]],
            )
            + f"<p>chi-square {_cell(srm['chi2'])}, p = {_cell(srm['p_value'])}: "
            + ("<b>mismatch, result invalid</b>" if srm["failed"] else "split as configured")
            + "</p>"
        )
    metrics = metric_names(result)
    parts.append("<h2>Variants</h2>")
    parts.append(
        _table(
            ["variant", "version", "n", "labelled", *metrics],
            [
                [v["name"], v["version"], v["n"], v["labelled"]] + [value_of(v, m) for m in metrics]
                for v in result["variants"]
            ],
        )
    )
    parts.append(f"<h2>Against the control {html.escape(result['control'])}</h2>")
    parts.append(
        _table(
            ["metric", "variant", "test", "difference", "CI low", "CI high", "p", "significant"],
            [
                [c[k] for k in ("metric", "variant", "test", "difference")]
                + [c[k] for k in ("ci_low", "ci_high", "p_value", "significant")]
                for c in result["comparisons"]
            ],
        )
    )
    for i, metric in enumerate(metrics):
        # The first chart carries plotly.js inline; the others reuse it on the same page.
        parts.append(figure(result, metric).to_html(full_html=False, include_plotlyjs=i == 0))
    title = f"A/B test {html.escape(experiment.id)}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def store_report(artifacts: ArtifactStore, experiment: Experiment, result: dict) -> StoredArtifact:
    """Render the report and store it content-addressed; the same result stores once."""
    return artifacts.put_bytes(render_html(experiment, result).encode("utf-8"))
