"""The prompt gate as promote-prompt runs it: suites, targets, comparison, evidence, refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import llmkit
import pytest
from promptkit import ALICE, in_production

from governance.domain import approvals as rules
from governance.domain.approvals import RequestStatus
from governance.domain.errors import (
    Conflict,
    EvidenceChanged,
    IllegalTransition,
    InvalidSuite,
    PromptNotFound,
)
from governance.domain.prompts import PromptStatus
from governance.llm.targets import TargetConfig
from governance.services.promotion import approval_queue, evidence
from governance.services.prompts import prompt_evaluation, prompt_promotion, prompt_registry
from governance.services.trust import audit

chat_stub, stub = llmkit.chat_stub, llmkit.stub
SUITE = Path(__file__).resolve().parents[1] / "data" / "support_suite.yaml"
CALLABLE = TargetConfig(kind="callable", function="llm_callables:support_bot")
TEMPLATE = "You are the support assistant for {{ product }}.\n"


@pytest.fixture
def suite_row(gov, now):
    """The support suite, registered."""
    return prompt_evaluation.register_suite(gov, name="support", path=SUITE, actor="alice", now=now)


def _review(gov, now, template=TEMPLATE):
    made = prompt_registry.register(
        gov, prompt_id="helpdesk", template=template, actor=ALICE, now=now
    )
    return prompt_registry.submit(gov, made.ref, actor=ALICE, now=now)


def test_a_callable_target_is_graded_case_by_case(gov, now, suite_row):
    version = _review(gov, now)
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite_row, target=CALLABLE, actor="alice", now=now
    )
    candidate, production = prompt_evaluation.results_of(done)
    # support_bot answers refunds; the other two cases get "Thanks for asking about: ...".
    assert [c.passed for c in candidate.cases] == [True, False, False]
    assert candidate.pass_rate == pytest.approx(1 / 3)
    assert candidate.per_assertion["contains-any"] == {"passed": 0, "total": 1}
    assert candidate.hallucination_rate == 1.0
    assert production is None and done.baseline_version is None
    assert not done.passed
    assert [c["name"] for c in done.decision["checks"] if not c["passed"]] == ["pass_rate"]
    assert done.decision["notes"] == ["no production version: regression not checked"]


def test_an_unreachable_provider_fails_the_gate_with_its_reason(gov, now, suite_row):
    version = _review(gov, now)
    closed = TargetConfig(kind="openai", base_url="http://127.0.0.1:9/v1", model="m",
                          retries=1, backoff_s=0.01)  # fmt: skip
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite_row, target=closed, actor="alice", now=now
    )
    [provider] = [c for c in done.decision["checks"] if c["name"] == "provider_errors"]
    assert not provider["passed"]
    assert provider["reason"].startswith("the provider failed: cannot reach http://127.0.0.1:9/v1")
    assert prompt_registry.resolve(gov, version.ref).status == PromptStatus.review


def test_the_production_version_runs_on_the_same_suite_and_a_regression_fails(
    gov, now, suite_row, stub
):
    # The first matching rule answers: the terse candidate gets "No." to everything.
    stub.configure(rules=[{"when": "Be terse", "reply": "No."},
                          {"when": "refund", "reply": "A refund takes 30 days."},
                          {"when": "broken", "reply": "Please restart it."},
                          {"when": "Hello", "reply": "Hello there"}])  # fmt: skip
    in_production(gov, now, prompt_id="helpdesk", template=TEMPLATE)
    version = _review(gov, now, TEMPLATE + "Be terse.\n")
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite_row, target=llmkit.chat_target(stub),
        actor="alice", now=now,
    )  # fmt: skip
    candidate, production = prompt_evaluation.results_of(done)
    assert (production.pass_rate, candidate.pass_rate, done.baseline_version) == (1.0, 0.0, "1.0.0")
    failed = {c["name"]: c["reason"] for c in done.decision["checks"] if not c["passed"]}
    assert set(failed) == {"pass_rate", "regression:pass_rate"}
    assert stub.usage()["requests"] == 6  # three cases on each version


def test_evidence_binds_the_template_suite_and_production(gov, now, suite_row):
    in_production(gov, now, prompt_id="helpdesk", template="Old {{ product }}\n")
    version = _review(gov, now)
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite_row, target=CALLABLE, actor="alice", now=now
    )
    request = prompt_promotion.open_request(
        gov, version=version, evaluation=done, requester=ALICE, flow_run_id="run-a", now=now
    )
    assert request.evidence["incumbent_version"] == "1.0.0"
    assert request.evidence["template_digest"] == version.template_digest
    assert request.required == {"ml_lead": 1, "risk_officer": 1}
    # A failed gate cannot be approved into production: its evaluation does not count.
    with gov.store.read() as tx:
        current = evidence.prompt_evidence_in(tx, gov.policy, request)
    assert current["evaluation_run_id"] == ""
    with pytest.raises(EvidenceChanged, match="evaluation_run_id changed"):
        rules.check_evidence(request, "", current)


def test_preconditions_refuse_a_draft_an_unknown_suite_and_a_second_request(gov, now, suite_row):
    made = prompt_registry.register(
        gov, prompt_id="helpdesk", template=TEMPLATE, actor=ALICE, now=now
    )
    with pytest.raises(IllegalTransition, match="is draft: only a version in review"):
        prompt_promotion.check_preconditions(
            gov, prompt_id="helpdesk", version=made.version, suite="support"
        )
    prompt_registry.submit(gov, made.ref, actor=ALICE, now=now)
    with pytest.raises(PromptNotFound, match="no suite 'nope' is registered"):
        prompt_promotion.check_preconditions(
            gov, prompt_id="helpdesk", version=made.version, suite="nope"
        )
    done = prompt_promotion.evaluate(
        gov, version=made, suite_row=suite_row, target=CALLABLE, actor="alice", now=now
    )
    request = prompt_promotion.open_request(
        gov, version=made, evaluation=done, requester=ALICE, flow_run_id="run-b", now=now
    )
    with pytest.raises(Conflict, match=f"already has an open promotion request {request.id}"):
        prompt_promotion.check_preconditions(
            gov, prompt_id="helpdesk", version=made.version, suite="support"
        )
    assert approval_queue.request_for_run(gov, "run-b").request.id == request.id


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "cases:\n  - assert:\n      - type: smells-nice\n",
            "unknown assertion type 'smells-nice'",
        ),
        ("cases:\n  - assert:\n      - type: regex\n        value: '([a-z'\n", "([a-z"),
        ("cases: [\n", "YAML"),
        ("cases: []\n", "the suite has no cases"),
    ],
)
def test_a_bad_suite_is_refused_and_nothing_is_registered(gov, now, tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidSuite) as caught:
        prompt_evaluation.register_suite(gov, name="bad", path=path, actor="alice", now=now)
    assert words in str(caught.value)
    with gov.store.read() as tx:
        assert tx.prompts.suites() == []


def test_the_same_suite_twice_is_refused(gov, now, suite_row):
    with pytest.raises(Conflict, match=f"suite support@{suite_row.digest[:12]} is already"):
        prompt_evaluation.register_suite(gov, name="support", path=SUITE, actor="alice", now=now)


def test_an_abandoned_prompt_request_expires_and_frees_the_version(gov, now, suite_row):
    version = _review(gov, now)
    done = prompt_promotion.evaluate(
        gov, version=version, suite_row=suite_row, target=CALLABLE, actor="alice", now=now
    )
    request = prompt_promotion.open_request(
        gov, version=version, evaluation=done, requester=ALICE, flow_run_id="run-c", now=now
    )
    assert approval_queue.expire_overdue(gov, request.expires_at - timedelta(seconds=1)) == []
    [expired] = approval_queue.expire_overdue(gov, request.expires_at)
    assert (expired.id, expired.kind, expired.status) == (
        request.id,
        "prompt",
        RequestStatus.expired,
    )
    [event] = audit.history(gov, event_type="approval.expired", model="helpdesk")
    assert (event.actor, event.details["request_id"]) == ("system", request.id)
    # The version's next promotion is no longer blocked by the abandoned request.
    found, _ = prompt_promotion.check_preconditions(
        gov, prompt_id="helpdesk", version=version.version, suite="support"
    )
    assert found.version == version.version
