"""The gate report: the Markdown an approver reads for one evaluation run."""

from __future__ import annotations

from governance.domain.evaluation import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    EvaluationResult,
    GateDecision,
    fmt_number,
)


def _better(metric: str) -> str:
    if metric in HIGHER_IS_BETTER:
        return "higher"
    return "lower" if metric in LOWER_IS_BETTER else "-"


# A failure stands out; a check that did not apply says so in words, never as a pass.
_VERDICTS = {"pass": "pass", "fail": "**FAIL**", "not applicable": "not applicable"}


def _checks_table(decision: GateDecision) -> list[str]:
    if not decision.checks:
        return ["The policy defines no checks for this evaluation."]
    rows = ["| check | observed | limit | result | reason |", "|---|---:|---:|:---:|---|"]
    for c in decision.checks:
        verdict = _VERDICTS[c.status]
        rows.append(
            f"| {cell(c.name)} | {fmt_number(c.observed)} | {fmt_number(c.limit)} "
            f"| {verdict} | {cell(c.reason)} |"
        )
    return rows


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "-") + fmt_number(abs(value))


def _baseline_table(result: EvaluationResult) -> list[str]:
    version = result.baseline_version or "(unnamed)"
    if result.baseline is None:
        head = "### Metrics (no production version to compare against)"
        rows = ["| metric | candidate | better |", "|---|---:|---|"]
        rows += [
            f"| {cell(m)} | {fmt_number(v)} | {_better(m)} |"
            for m, v in sorted(result.metrics.items())
        ]
        return [head, "", *rows]
    rows = ["| metric | candidate | production | change | better |", "|---|---:|---:|---:|---|"]
    for metric in sorted(set(result.metrics) | set(result.baseline)):
        new, old = result.metrics.get(metric), result.baseline.get(metric)
        change = _signed(new - old) if new is not None and old is not None else "-"
        rows.append(
            f"| {cell(metric)} | {fmt_number(new)} | {fmt_number(old)} | {change} "
            f"| {_better(metric)} |"
        )
    return [f"### Metrics vs production {cell(version)}", "", *rows]


def _fairness_table(result: EvaluationResult) -> list[str]:
    if not result.fairness_gap:
        return []
    metric = result.primary_metric
    rows = [
        f"### {metric} by group",
        "",
        "| group column | gap | lowest | highest |",
        "|---|---:|---|---|",
    ]
    for column, gap in sorted(result.fairness_gap.items()):
        scores = {
            group: values[metric]
            for group, values in result.per_group.get(column, {}).items()
            if metric in values
        }
        low = min(scores, key=scores.__getitem__, default=None)
        high = max(scores, key=scores.__getitem__, default=None)
        low_text = "-" if low is None else f"{cell(low)} ({fmt_number(scores[low])})"
        high_text = "-" if high is None else f"{cell(high)} ({fmt_number(scores[high])})"
        rows.append(f"| {cell(column)} | {fmt_number(gap)} | {low_text} | {high_text} |")
    return ["", *rows]


def gate_report_markdown(decision: GateDecision, result: EvaluationResult) -> str:
    """The approver's view: verdict, a row per check, metrics against production, gaps by group."""
    verdict = "PASSED" if decision.passed else "FAILED"
    lines = [
        f"## Evaluation gate: {verdict}",
        "",
        cell(decision.summary()),
        "",
        f"Dataset **{cell(result.dataset_name)}** (digest `{cell(result.dataset_digest)}`), "
        f"{result.n_rows} rows, {result.task}; p95 latency {fmt_number(result.latency_p95_ms)} ms.",
        "",
        *_checks_table(decision),
        "",
        *_baseline_table(result),
        *_fairness_table(result),
    ]
    return "\n".join(lines) + "\n"


def cell(text: str) -> str:
    """Text as one Markdown table cell: pipes escaped, line breaks flattened."""
    # A stray pipe in a dataset name or reason would split the Markdown row.
    return text.replace("|", "\\|").replace("\n", " ")
