"""Prompt suites and their runs: register a suite, run it on a template, gate the result."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from governance.bootstrap import Governance
from governance.domain.errors import Conflict, InvalidInput, PromptNotFound
from governance.domain.prompt_gate import PromptGateDecision, decide_prompt_gate
from governance.domain.prompt_suites import SuiteResult
from governance.domain.prompts import PromptEvaluation, RegisteredSuite, check_prompt_id
from governance.llm import grading, suite_files, templates
from governance.llm.targets import Completion, TargetConfig, complete_all, target_from_llm_config
from governance.services.registry import versions
from governance.services.registry.artifacts import staged_artifact
from governance.store.unit_of_work import Transaction


def register_suite(
    gov: Governance, *, name: str, path: Path, actor: str, now: datetime
) -> RegisteredSuite:
    """Store a suite YAML content-addressed under `name`; the same content twice is refused."""
    check_prompt_id(name)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read suite file {path}: {exc.strerror}") from None
    suite = suite_files.load_suite(data)
    digest = suite_files.suite_digest(data)
    with gov.store.write() as tx:
        if tx.prompts.find_suite(name, digest):
            raise Conflict(f"suite {name}@{digest[:12]} is already registered")
        with staged_artifact(gov.artifacts, data) as stored:
            saved = tx.prompts.add_suite(
                RegisteredSuite(
                    name=name,
                    digest=stored.digest,
                    uri=stored.uri,
                    n_cases=len(suite.cases),
                    registered_by=actor,
                    registered_at=now,
                )
            )
            tx.audit.append(
                "prompt_suite.registered",
                actor=actor,
                now=now,
                details={"name": name, "digest": saved.digest, "n_cases": saved.n_cases},
            )
        return saved


def find_suite_in(tx: Transaction, ref: str) -> RegisteredSuite:
    """The suite `name` (latest registration) or `name@digest-prefix`; PromptNotFound if none."""
    name, _, digest = ref.partition("@")
    found = tx.prompts.find_suite(name, digest or None)
    if found is None:
        raise PromptNotFound(
            f"no suite {ref!r} is registered: `governance prompts suites register {name} FILE`"
        )
    return found


def run_suite(
    gov: Governance, suite_row: RegisteredSuite, template: str, target: TargetConfig
) -> SuiteResult:
    """Render every case with `template`, call the target, and grade the outputs."""
    suite = suite_files.load_suite(gov.artifacts.read_verified(suite_row.digest))
    used = templates.check_template(template)
    systems: list[str] = []
    failures: dict[int, str] = {}
    for position, case in enumerate(suite.cases):
        try:
            # Variables the template does not use are ignored: one suite serves every version.
            systems.append(
                templates.render(template, {k: case.vars[k] for k in used if k in case.vars})
            )
        except InvalidInput as exc:
            failures[position] = str(exc)
            systems.append("")
    wanted = [i for i in range(len(suite.cases)) if i not in failures]
    replies = complete_all(target, [_messages(systems[i], suite.cases[i].input) for i in wanted])
    completions = dict(zip(wanted, replies, strict=True))
    results = [
        grading.grade_case(
            case,
            completions.get(i) or Completion(text="", latency_ms=0.0, error=failures[i]),
            system_prompt=systems[i],
            suite=suite,
        )
        for i, case in enumerate(suite.cases)
    ]
    return grading.summarise(suite, results)


def _messages(system: str, user: str | None) -> list[dict[str, str]]:
    """The chat a case sends: the rendered template as the system message, then its input."""
    messages = [{"role": "system", "content": system}]
    if user:
        messages.append({"role": "user", "content": user})
    return messages


def gate(
    gov: Governance,
    candidate: SuiteResult,
    baseline: SuiteResult | None,
    *,
    card_hallucination_rate: float | None = None,
    card_latency_p95_ms: float | None = None,
) -> PromptGateDecision:
    """The policy's prompt gate on a candidate's result against production's."""
    return decide_prompt_gate(
        candidate,
        baseline,
        gov.policy.prompts.gate,
        card_hallucination_rate=card_hallucination_rate,
        card_latency_p95_ms=card_latency_p95_ms,
    )


def record_in(
    tx: Transaction,
    *,
    subject: str,
    suite_row: RegisteredSuite,
    target: TargetConfig,
    candidate: SuiteResult,
    baseline: SuiteResult | None,
    baseline_version: str | None,
    decision: PromptGateDecision,
    actor: str,
    now: datetime,
    flow_run_id: str | None,
    prompt_version_id: int | None = None,
    model_version_id: int | None = None,
    audit_model: tuple[str, str],
) -> PromptEvaluation:
    """Store one evaluation and its `prompt.evaluated` event in the caller's transaction."""
    evaluation = PromptEvaluation(
        id=str(uuid.uuid4()),
        subject=subject,
        suite=suite_row,
        target=target.model_dump(mode="json"),
        result={
            "candidate": candidate.model_dump(mode="json"),
            "production": baseline.model_dump(mode="json") if baseline else None,
        },
        decision=decision.model_dump(mode="json"),
        passed=decision.passed,
        baseline_version=baseline_version,
        created_by=actor,
        created_at=now,
        flow_run_id=flow_run_id,
    )
    tx.prompts.add_evaluation(
        evaluation, prompt_version_id=prompt_version_id, model_version_id=model_version_id
    )
    tx.audit.append(
        "prompt.evaluated",
        actor=actor,
        now=now,
        model=audit_model[0],
        version=audit_model[1],
        details={
            "evaluation_id": evaluation.id,
            "suite": suite_row.name,
            "suite_digest": suite_row.digest,
            "pass_rate": candidate.pass_rate,
            "baseline_version": baseline_version,
            "baseline_pass_rate": baseline.pass_rate if baseline else None,
            "passed": decision.passed,
            "failed_checks": [c.name for c in decision.checks if not c.passed],
        },
    )
    return evaluation


def load_evaluation(gov: Governance, evaluation_id: str, subject: str) -> PromptEvaluation:
    """A stored evaluation, or PromptNotFound."""
    with gov.store.read() as tx:
        found = tx.prompts.find_evaluation(evaluation_id, subject)
    if found is None:
        raise PromptNotFound(f"unknown prompt evaluation {evaluation_id!r}")
    return found


def results_of(evaluation: PromptEvaluation) -> tuple[SuiteResult, SuiteResult | None]:
    """The candidate's and production's suite results of a stored evaluation."""
    production = evaluation.result.get("production")
    return (
        SuiteResult.model_validate(evaluation.result["candidate"]),
        SuiteResult.model_validate(production) if production else None,
    )


def resolve_target(gov: Governance, target: dict | None, llm_model: str | None) -> TargetConfig:
    """The target a gate calls: a target mapping, or a registered LLM version's configuration."""
    if (target is None) == (llm_model is None):
        raise InvalidInput("name exactly one target: a target config or an LLM model version")
    if target is not None:
        return TargetConfig.model_validate(target)
    found = versions.resolve(gov, llm_model or "")
    if not found.llm_config:
        raise InvalidInput(f"{found.ref} is not an LLM version: it has no configuration to call")
    return target_from_llm_config(found.llm_config)
