"""What an approver reads next to the decision: the gate, deltas, fairness, drift, the diff.

Each part is read through the services the CLI uses and turned into plain dicts for the
templates; a part that cannot be read says why instead of breaking the page.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

from governance.bootstrap import Governance
from governance.domain import evidence as evidence_rules
from governance.domain.approvals import ApprovalRequest
from governance.domain.errors import GovernanceError
from governance.domain.evaluation import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    EvaluationResult,
    GateDecision,
    fmt_number,
)
from governance.domain.prompt_gate import PromptGateDecision
from governance.domain.prompt_suites import SuiteResult
from governance.services.monitoring import retirement_review
from governance.services.promotion import evaluation
from governance.services.prompts import llm_evaluation, prompt_evaluation, prompt_registry
from governance.services.registry import versions

# The suite figures an LLM or prompt gate compares with production, in this order.
SUITE_FIGURES = (
    ("pass_rate", "higher"),
    ("hallucination_rate", "lower"),
    ("safety_failures", "lower"),
    ("errors", "lower"),
    ("latency_p95_ms", "lower"),
    ("cost_total", "lower"),
)


def _better(metric: str) -> str:
    if metric in HIGHER_IS_BETTER:
        return "higher"
    return "lower" if metric in LOWER_IS_BETTER else "-"


def _change(new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return "-"
    delta = new - old
    return ("+" if delta >= 0 else "-") + fmt_number(abs(delta))


def _checks(decision: GateDecision) -> list[dict[str, str]]:
    return [
        {
            "name": c.name,
            "status": c.status,
            "observed": fmt_number(c.observed),
            "limit": fmt_number(c.limit),
            "reason": c.reason,
        }
        for c in decision.checks
    ]


def _row(metric: str, new: float | None, old: float | None, better: str) -> dict[str, str]:
    return {
        "metric": metric,
        "candidate": fmt_number(new),
        "production": fmt_number(old),
        "change": _change(new, old),
        "better": better,
    }


def model_gate(decision: GateDecision, result: EvaluationResult) -> dict[str, Any]:
    """A scikit-learn evaluation: checks, metrics against production, fairness by group."""
    baseline = result.baseline or {}
    metrics = [
        _row(m, result.metrics.get(m), baseline.get(m), _better(m))
        for m in sorted(set(result.metrics) | set(baseline))
    ]
    fairness = []
    primary = result.primary_metric
    for column, gap in sorted(result.fairness_gap.items()):
        scores = {
            group: values[primary]
            for group, values in result.per_group.get(column, {}).items()
            if primary in values
        }
        low = min(scores, key=scores.__getitem__, default=None)
        high = max(scores, key=scores.__getitem__, default=None)
        fairness.append(
            {
                "column": column,
                "gap": fmt_number(gap),
                "lowest": "-" if low is None else f"{low} ({fmt_number(scores[low])})",
                "highest": "-" if high is None else f"{high} ({fmt_number(scores[high])})",
            }
        )
    return {
        "passed": decision.passed,
        "summary": decision.summary(),
        "checks": _checks(decision),
        "metrics": metrics,
        "baseline_version": result.baseline_version if result.baseline is not None else None,
        "dataset": f"{result.dataset_name} ({result.n_rows} rows, {result.task})",
        "dataset_digest": result.dataset_digest,
        "fairness_metric": primary,
        "fairness": fairness,
        "notes": [],
    }


def suite_gate(
    decision: PromptGateDecision,
    candidate: SuiteResult,
    production: SuiteResult | None,
    baseline_version: str | None,
) -> dict[str, Any]:
    """A prompt or LLM evaluation: checks and the suite's figures against production."""
    metrics = [
        _row(
            name,
            getattr(candidate, name),
            getattr(production, name) if production else None,
            better,
        )
        for name, better in SUITE_FIGURES
        if getattr(candidate, name) is not None
    ]
    old_metrics = production.metrics if production else {}
    metrics += [
        _row(m, candidate.metrics.get(m), old_metrics.get(m), _better(m))
        for m in sorted(set(candidate.metrics) | set(old_metrics))
    ]
    return {
        "passed": decision.passed,
        "summary": decision.summary(),
        "checks": _checks(decision),
        "metrics": metrics,
        "baseline_version": baseline_version if production else None,
        "dataset": f"{candidate.total} cases, {candidate.passed} passed",
        "dataset_digest": "",
        "fairness_metric": "",
        "fairness": [],
        "notes": list(decision.notes),
    }


def gate_of(gov: Governance, request: ApprovalRequest) -> dict[str, Any] | None:
    """The gate report of the evaluation a request is bound to (None when it names none)."""
    run_id = request.evidence.get("evaluation_run_id", "")
    if not run_id or request.kind in ("retirement", "retro_review"):
        return None
    if request.kind == "prompt":
        stored = prompt_evaluation.load_evaluation(gov, run_id, _ref(request))
        candidate, production = prompt_evaluation.results_of(stored)
        decision = PromptGateDecision.model_validate(stored.decision)
        return suite_gate(decision, candidate, production, stored.baseline_version)
    found = versions.resolve(gov, _ref(request))
    if found.llm_config is not None:
        run = llm_evaluation.get_run(gov, request.model_name, request.version, run_id)
        return suite_gate(run.decision, run.candidate, run.production, run.baseline_version)
    run = evaluation.get_run(gov, run_id)
    return model_gate(run.decision, run.result)


def drift_of(gov: Governance, request: ApprovalRequest) -> list[dict[str, Any]]:
    """The latest retirement-audit findings of the request's version (for model requests)."""
    if request.kind == "prompt":
        return []
    rows = retirement_review.latest_findings(gov, request.model_name, request.version)
    return [
        {
            "verdict": row.verdict,
            "reason": row.reason,
            "checked_at": row.checked_at,
            "findings": [
                {
                    "check": str(f.get("check", "")),
                    "status": str(f.get("status", "")),
                    "message": str(f.get("message", "")),
                }
                for f in row.findings
            ],
        }
        for row in rows
    ]


def diff_of(gov: Governance, request: ApprovalRequest) -> dict[str, Any] | None:
    """The template diff (prompt) or configuration diff (LLM) against what production holds."""
    incumbent = request.evidence.get("incumbent_version", evidence_rules.NO_INCUMBENT)
    has_incumbent = incumbent not in ("", evidence_rules.NO_INCUMBENT)
    if request.kind == "prompt":
        new = prompt_registry.resolve(gov, _ref(request))
        old = (
            prompt_registry.resolve(gov, f"{request.model_name}@{incumbent}")
            if has_incumbent
            else None
        )
        return {"title": "Template diff", "lines": _lines(prompt_registry.unified_diff(old, new))}
    if request.kind != "promotion":
        return None
    new_version = versions.resolve(gov, _ref(request))
    if new_version.llm_config is None:
        return None
    old_config = (
        versions.resolve(gov, f"{request.model_name}@{incumbent}").llm_config
        if has_incumbent
        else None
    )
    before = _json_lines(old_config) if old_config is not None else []
    after = _json_lines(new_version.llm_config)
    text = "".join(
        line if line.endswith("\n") else line + "\n"
        for line in difflib.unified_diff(
            before,
            after,
            f"{request.model_name}@{incumbent}" if has_incumbent else "/dev/null",
            _ref(request),
        )
    )
    return {"title": "Configuration diff", "lines": _lines(text)}


def _json_lines(config: dict[str, Any]) -> list[str]:
    return json.dumps(config, indent=2, sort_keys=True).splitlines(keepends=True)


def _lines(diff: str) -> list[dict[str, str]]:
    """Diff lines, each marked add, del or context (the template colours them)."""
    marked = []
    for line in diff.splitlines():
        kind = "ctx"
        if line.startswith("+") and not line.startswith("+++"):
            kind = "add"
        elif line.startswith("-") and not line.startswith("---"):
            kind = "del"
        marked.append({"kind": kind, "text": line})
    return marked


def _ref(request: ApprovalRequest) -> str:
    return f"{request.model_name}@{request.version}"


def attempt(read: Callable[[], Any]) -> tuple[Any, str]:
    """(what `read` returns, '') or (None, why it could not be read)."""
    try:
        return read(), ""
    except GovernanceError as exc:
        return None, str(exc)
