"""promote-model served for real on an LLM version: the prompt-suite gate, approvals, Promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flowkit import actor, now, wait_final, wait_suspended
from prefect.client.orchestration import get_client
from prefect.input.run_input import keyset_from_paused_state
from seeding import seed_stage

from deployments.chat_stub import StubHandle, start_stub
from flows import promotion_runs
from governance.domain.approvals import RequestStatus
from governance.domain.models import LifecycleStage, ModelKind, RegisteredModel, RiskLevel
from governance.services.promotion import approval_queue
from governance.services.prompts import prompt_evaluation
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit

pytestmark = pytest.mark.sqlite_only

SUITE_FILE = Path(__file__).resolve().parent.parent / "data" / "llm_suite.yaml"
# With this rule every case of the suite passes and its hallucination rate is 0.
TRACKING = [{"when": "order", "reply": "Your order ships today; tracking follows by mail."}]
LLM_FACTS = {
    "base_model": "stub-1",
    "data_volume": "500K examples",
    "pii_handling": "All PII removed during preprocessing",
    "hallucination_rate": 0.05,
    "latency_p95_ms": 2000.0,
}


@pytest.fixture(scope="module")
def chat() -> Iterator[StubHandle]:
    """A chat stub of this module's own; the served flow calls it over 127.0.0.1."""
    handle = start_stub(rules=TRACKING)
    yield handle
    handle.stop()


def register_llm(w, card, chat: StubHandle) -> str:
    """A medium-risk LLM model of this test with 1.0.0 in staging; returns its name."""
    name = w.churn.replace("churn", "assistant")
    model = RegisteredModel(
        name=name, owner="alice", team="support", risk_level=RiskLevel.medium, kind=ModelKind.llm
    )
    config = {
        "base_model": "stub-1",
        "provider": "openai-compatible",
        "base_url": chat.base_url,
        "system_prompt": "You answer support questions.",
        "timeout_s": 5,
    }
    spec = VersionSpec(name=name, version="1.0.0", created_by="alice", llm_config=config)
    versions.register_version(w.gov, spec, card, artifact=None, now=now(), new_model=model)
    seed_stage(w.gov, name, "1.0.0", LifecycleStage.staging)
    return name


def form_of(run_id: str) -> str:
    """The Markdown the paused run shows approvers on its resume form."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
        return client.read_flow_run_input(run_id, keyset_from_paused_state(state)["description"])


def answer(w, run_id: str, approver: str, role: str):
    """Resume the suspended run like `governance approve`."""
    wait_suspended(run_id)
    return promotion_runs.resume_with_decision(
        w.gov, run_id, approver=approver, role=role, decision="approve", notes="",
        code=w.codes.code(approver),
    )  # fmt: skip


def test_an_llm_version_is_gated_on_its_suite_approved_and_promoted(world, example_card, chat):
    w = world
    card = example_card.model_copy(update={"risk_level": RiskLevel.medium, **LLM_FACTS})
    name = register_llm(w, card, chat)
    suite = f"{name}-suite"
    prompt_evaluation.register_suite(w.gov, name=suite, path=SUITE_FILE, actor="alice", now=now())
    params = {"model": name, "version": "1.0.0", "dataset": suite, "target": "production"}
    run_id = str(promotion_runs.submit_promotion(w.gov, actor("alice"), params, now=now()).id)
    wait_suspended(run_id)
    form = form_of(run_id)
    assert "## LLM configuration" in form and "## Prompt gate: PASSED" in form
    first = answer(w, run_id, "carol", "ml_lead")
    assert first.accepted and first.request.status == RequestStatus.open
    second = answer(w, run_id, "dave", "risk_officer")
    assert second.accepted and second.request.status == RequestStatus.approved
    state = wait_final(run_id)
    assert (state.name, state.message) == ("Promoted", f"{name}@1.0.0 is now production")
    assert versions.resolve(w.gov, f"{name}@production").version == "1.0.0"
    request = approval_queue.request_for_run(w.gov, run_id).request
    assert request.evidence["artifact_digest"].startswith("config:")
    [evaluated] = audit.history(w.gov, event_type="prompt.evaluated", model=name)
    assert evaluated.details["evaluation_id"] == request.evidence["evaluation_run_id"]
    assert evaluated.details["suite"] == suite and evaluated.details["passed"] is True
    assert chat.usage()["requests"] == 3
