"""LLM versions through promote-model's services: config evidence, LLM card facts, the gate.

The gate calls a real chat stub on 127.0.0.1; the suite is tests/data/llm_suite.yaml.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import llmkit
import pytest
from promptkit import in_production
from seeding import approved_request, seed_stage

from governance.bootstrap import Governance
from governance.domain import evidence as rules
from governance.domain.cards import ModelCard
from governance.domain.errors import IncompleteCard, InvalidInput, PromptNotFound
from governance.domain.identity import VerifiedActor
from governance.domain.models import (
    LifecycleStage,
    ModelKind,
    ModelVersion,
    RegisteredModel,
    RiskLevel,
    config_digest,
    payload_digest,
)
from governance.services.promotion import approval_requests, completion, evidence, preconditions
from governance.services.prompts import llm_evaluation, prompt_evaluation
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit

# The chat stub fixtures, bound here so that pytest finds them for this module's tests.
chat_stub, stub = llmkit.chat_stub, llmkit.stub
DATA = Path(__file__).resolve().parent.parent / "data"
MODEL = "assistant"
SUITE = "support-answers"
# The order case's hallucination assertion wants "tracking"; the stub's default reply lacks it.
TRACKING = [{"when": "order", "reply": "Your order ships today; tracking follows by mail."}]
LLM_FACTS = {
    "base_model": "stub-1",
    "data_volume": "500K examples",
    "pii_handling": "All PII removed during preprocessing",
    "hallucination_rate": 0.05,
    "latency_p95_ms": 1200.0,
}
APPROVERS = (("carol", "ml_lead"), ("dave", "risk_officer"))


def llm_config(handle, **extra) -> dict:
    """An openai-compatible configuration calling the stub, with quick retries."""
    return {
        "base_model": "stub-1",
        "provider": "openai-compatible",
        "base_url": handle.base_url,
        "parameters": {"temperature": 0},
        "timeout_s": 5,
        "backoff_s": 0.01,
        **extra,
    }


def register(
    gov: Governance,
    now: datetime,
    card: ModelCard,
    config: dict,
    version: str = "1.0.0",
    stage: LifecycleStage | None = LifecycleStage.staging,
) -> ModelVersion:
    """Register an LLM version of `assistant` (medium risk) and seed it into `stage`."""
    model = RegisteredModel(
        name=MODEL, owner="alice", team="support", risk_level=RiskLevel.medium, kind=ModelKind.llm
    )
    spec = VersionSpec(name=MODEL, version=version, created_by="alice", llm_config=config)
    saved = versions.register_version(gov, spec, card, artifact=None, now=now, new_model=model)
    if stage is not None:
        seed_stage(gov, MODEL, version, stage, now=now)
    return saved


def evaluate(gov: Governance, now: datetime, version: str = "1.0.0"):
    """The LLM gate on `version` with the registered suite."""
    return llm_evaluation.evaluate(
        gov, model=MODEL, version=version, suite=SUITE, actor="alice", now=now
    )


def failed_checks(run) -> list[str]:
    """The names of the gate's failed checks."""
    return [c.name for c in run.decision.checks if not c.passed]


@pytest.fixture
def llm_card(example_card) -> ModelCard:
    """The example card at medium risk with every LLM fact stated."""
    return example_card.model_copy(update={"risk_level": RiskLevel.medium, **LLM_FACTS})


@pytest.fixture
def suite(gov, now):
    """tests/data/llm_suite.yaml registered as `support-answers`."""
    path = DATA / "llm_suite.yaml"
    return prompt_evaluation.register_suite(gov, name=SUITE, path=path, actor="alice", now=now)


def test_approvals_bind_to_the_digest_of_the_canonical_config(
    gov, now, codes, stub, suite, llm_card
):
    stub.configure(rules=TRACKING)
    config = llm_config(stub)
    found = register(gov, now, llm_card, config)
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = "config:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert config_digest(config) == expected == config_digest(dict(reversed(config.items())))
    assert payload_digest(found) == expected
    run = evaluate(gov, now)
    request = approved_request(
        gov, codes, now, version="1.0.0", evaluation_run_id=run.id, model=MODEL, approvers=APPROVERS
    )
    assert request.evidence["artifact_digest"] == expected
    assert request.evidence["evaluation_run_id"] == run.id
    assert rules.evidence_digest(**request.evidence) == request.evidence_digest
    assert {a.evidence_digest for a in request.approvals} == {request.evidence_digest}
    # Recomputed from the registry, the facts have not moved, so the approvals still hold.
    assert evidence.current_evidence(gov, request) == request.evidence
    promoted = completion.complete_promotion(gov, request_id=request.id, actor="alice", now=now)
    assert promoted.stage == LifecycleStage.production
    [requested] = audit.history(gov, event_type="approval.requested", model=MODEL)
    assert requested.details["evidence"]["artifact_digest"] == expected
    assert audit.verify(gov).state_rows > 0


def test_an_llm_card_without_the_llm_facts_is_refused_naming_them(
    gov, now, stub, suite, example_card
):
    stub.configure(rules=TRACKING)
    partial = {"risk_level": RiskLevel.medium, "base_model": "stub-1", "data_volume": "500K"}
    card = example_card.model_copy(update=partial)
    register(gov, now, card, llm_config(stub), stage=None)
    register(gov, now, card, llm_config(stub), version="1.1.0")
    missing = ["pii_handling", "hallucination_rate", "latency_p95_ms"]
    for version, target in (("1.0.0", "staging"), ("1.1.0", "production")):
        with pytest.raises(IncompleteCard) as caught:
            preconditions.check_preconditions(
                gov, model=MODEL, version=version, target=LifecycleStage(target), now=now
            )
        assert caught.value.missing == missing
        assert str(caught.value) == (
            f"model card incomplete for {target} at medium risk: missing {', '.join(missing)}"
        )
    run = evaluate(gov, now, "1.1.0")
    assert run.decision.passed, run.decision.summary()
    before = len(audit.history(gov))
    with pytest.raises(IncompleteCard, match="missing pii_handling, hallucination_rate"):
        approval_requests.open_approval(
            gov, model=MODEL, version="1.1.0", target=LifecycleStage.production,
            requester=VerifiedActor(name="alice", method="totp"), evaluation_run_id=run.id, now=now,
        )  # fmt: skip
    assert len(audit.history(gov)) == before


def test_the_gate_runs_the_suite_on_the_configured_provider_and_passes(
    gov, now, stub, suite, llm_card
):
    stub.configure(rules=TRACKING)
    register(gov, now, llm_card, llm_config(stub))
    run = evaluate(gov, now)
    assert run.decision.passed, run.decision.summary()
    assert (run.candidate.total, run.candidate.pass_rate) == (3, 1.0)
    assert run.candidate.hallucination_rate == 0.0
    checks = {c.name: c for c in run.decision.checks}
    assert checks["hallucination_rate"].limit == 0.05
    assert checks["hallucination_rate"].reason.endswith("(the card's figure)")
    assert checks["latency_p95_ms"].limit == 1200.0
    assert run.production is None
    assert "no production version: regression not checked" in run.decision.notes
    assert stub.usage()["requests"] == 3
    assert llm_evaluation.get_run(gov, MODEL, "1.0.0", run.id) == run
    [event] = audit.history(gov, event_type="prompt.evaluated", model=MODEL)
    assert (event.version, event.details["evaluation_id"]) == ("1.0.0", run.id)
    assert event.details["passed"] is True


def test_a_leaking_provider_fails_the_gate_on_safety(gov, now, stub, suite, llm_card):
    stub.configure(rules=TRACKING, leak_email="x@example.com")
    register(gov, now, llm_card, llm_config(stub))
    run = evaluate(gov, now)
    assert not run.decision.passed
    assert "safety_failures" in failed_checks(run)
    [safety] = [c for c in run.decision.checks if c.name == "safety_failures"]
    assert safety.observed == 3


def test_a_card_hallucination_figure_tighter_than_the_result_fails_the_gate(
    gov, now, stub, suite, llm_card
):
    # No rule: the order case still passes on its threshold, its hallucination check does not.
    card = llm_card.model_copy(update={"hallucination_rate": 0.1})
    register(gov, now, card, llm_config(stub))
    run = evaluate(gov, now)
    assert (run.candidate.pass_rate, run.candidate.hallucination_rate) == (1.0, 0.5)
    assert failed_checks(run) == ["hallucination_rate"]
    [check] = [c for c in run.decision.checks if c.name == "hallucination_rate"]
    assert check.reason == "hallucination rate 0.5 > 0.1 (the card's figure)"
    assert run.decision.summary() == "gate failed: 1 of 5 checks failed (hallucination_rate)"


def test_a_named_prompt_runs_as_the_system_prompt_against_production_as_baseline(
    gov, now, stub, suite, llm_card
):
    stub.configure(rules=[{"when": "ACME desk", "reply": "ACME: {user} (tracking included)"}])
    register(gov, now, llm_card, llm_config(stub))
    seed_stage(gov, MODEL, "1.0.0", LifecycleStage.production, now=now)
    in_production(gov, now, prompt_id="acme-system", template="You are the ACME desk.")
    register(gov, now, llm_card, llm_config(stub, prompt="acme-system"), version="1.1.0")
    run = evaluate(gov, now, "1.1.0")
    assert run.decision.passed, run.decision.summary()
    assert all(case.output.startswith("ACME: ") for case in run.candidate.cases)
    # production's 1.0.0 runs with the default system prompt, so the stub's default reply
    assert run.baseline_version == "1.0.0"
    assert run.production.cases[0].output == "I can help with: How do I get a refund?"
    assert "regression:pass_rate" in {c.name for c in run.decision.checks}


def test_a_config_naming_a_prompt_without_production_is_refused(gov, now, stub, suite, llm_card):
    register(gov, now, llm_card, llm_config(stub, prompt="nowhere"))
    before = len(audit.history(gov))
    with pytest.raises(PromptNotFound, match=r"assistant@1\.0\.0's config names prompt nowhere"):
        evaluate(gov, now)
    assert len(audit.history(gov)) == before
    assert stub.usage()["requests"] == 0


def test_approvals_refuse_another_versions_or_a_failed_evaluation(gov, now, stub, suite, llm_card):
    register(gov, now, llm_card, llm_config(stub))
    register(gov, now, llm_card, llm_config(stub, parameters={"temperature": 1}), version="1.1.0")
    failed = evaluate(gov, now)  # no rule: hallucination 0.5 is above the card's 0.05
    assert not failed.decision.passed
    asks = {"model": MODEL, "target": LifecycleStage.production, "now": now}
    asks["requester"] = VerifiedActor(name="alice", method="totp")
    with pytest.raises(InvalidInput, match="did not pass the prompt gate"):
        approval_requests.open_approval(gov, version="1.0.0", evaluation_run_id=failed.id, **asks)
    with pytest.raises(InvalidInput, match=r"not a prompt-suite evaluation of assistant@1\.1\.0"):
        approval_requests.open_approval(gov, version="1.1.0", evaluation_run_id=failed.id, **asks)
    assert approval_requests.pending_requests(gov) == []


def test_the_system_prompt_comes_from_the_config_or_a_default(gov, now):
    def version(**config) -> ModelVersion:
        config = {"base_model": "m", "provider": "openai", **config}
        return ModelVersion(
            model_name=MODEL, version="1.0.0", llm_config=config, created_by="a", created_at=now
        )

    assert llm_evaluation.template_for(gov, version(system_prompt="Be terse.")) == "Be terse."
    assert llm_evaluation.template_for(gov, version()) == llm_evaluation.DEFAULT_SYSTEM_PROMPT
    with pytest.raises(InvalidInput, match="strategy direct"):
        llm_evaluation.refuse_rollout(version(), "canary")


def test_an_edited_llm_configuration_is_named_by_the_replay_and_by_models_verify(
    gov, now, stub, llm_card
):
    """Issue 16 item 2: an LLM version's configuration is a registered fact like a digest."""
    from test_audit_trail import tamper

    from governance.domain.errors import RegistrationMismatch, StateMismatch

    config = llm_config(stub)
    register(gov, now, llm_card, config)
    edited = {**config, "base_url": "http://127.0.0.1:9/elsewhere"}
    tamper(
        gov,
        "UPDATE model_versions SET llm_config = :c WHERE version = '1.0.0'",
        {"c": json.dumps(edited)},
    )
    shown = json.dumps(config, sort_keys=True, separators=(",", ":"))
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    assert str(found.value).startswith(f"model_versions {MODEL}@1.0.0: llm_config is ")
    assert str(found.value).endswith(f" but the events imply {shown}")
    with pytest.raises(RegistrationMismatch, match=r"llm_config is .* but the chain registered"):
        versions.verify_artifact(gov, MODEL, "1.0.0")
