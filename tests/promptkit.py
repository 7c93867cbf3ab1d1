"""What prompt canary tests share: a prompt in production, a candidate, its request, renders."""

from __future__ import annotations

import uuid
from datetime import datetime

from governance.bootstrap import Governance
from governance.domain import approvals as rules
from governance.domain import evidence
from governance.domain.approvals import ApprovalRequest
from governance.domain.identity import VerifiedActor
from governance.domain.prompt_rollout import PromptRollout
from governance.domain.prompts import PromptStatus, PromptVersion
from governance.services.prompts import prompt_canary, prompt_registry

ALICE = VerifiedActor(name="alice", method="totp")
PROMPT = "support"
TEMPLATE = "You support {{ product }}.\nQuestion: {{ question }}\n"
CANDIDATE_TEMPLATE = TEMPLATE + "Be brief.\n"


def in_production(
    gov: Governance, now: datetime, prompt_id: str = PROMPT, template: str = TEMPLATE
) -> PromptVersion:
    """Register a version and put it in production (the promotion's own move)."""
    version = prompt_registry.register(
        gov, prompt_id=prompt_id, template=template, actor=ALICE, now=now
    )
    with gov.store.write() as tx:
        tx.prompts.set_status(prompt_id, version.version, PromptStatus.approved, now)
        prompt_registry.move_pointer_in(
            tx, version, kind="promotion", actor="test-setup", now=now, reason="seed"
        )
    return version


def candidate(
    gov: Governance, now: datetime, template: str = CANDIDATE_TEMPLATE, prompt_id: str = PROMPT
) -> PromptVersion:
    """The next version of the prompt, submitted for review."""
    prompt_registry.register(gov, prompt_id=prompt_id, template=template, actor=ALICE, now=now)
    return prompt_registry.submit(gov, prompt_id, actor=ALICE, now=now)


def request_for(gov: Governance, version: PromptVersion, now: datetime) -> ApprovalRequest:
    """An open promotion request for `version`, stored as promote-prompt stores one."""
    with gov.store.write() as tx:
        held = tx.prompts.production(version.prompt_id)
        request = rules.open_prompt_request(
            id=str(uuid.uuid4()),
            prompt_id=version.prompt_id,
            version=version.version,
            requested_by="alice",
            version_created_by="alice",
            evidence={
                "template_digest": version.template_digest,
                "suite_digest": "s" * 64,
                "evaluation_run_id": "run-1",
                "incumbent_version": held.version if held else evidence.NO_INCUMBENT,
                "policy_version": gov.policy.version,
                "target_stage": "production",
            },
            policy=gov.policy,
            now=now,
        )
        tx.approvals.add_request(request, prompt_version_id=version.id)
    return request


def start_canary(gov: Governance, now: datetime) -> tuple[ApprovalRequest, PromptRollout]:
    """support 1.0.0 in production and a canary of 1.0.1 at the first weight."""
    in_production(gov, now)
    return canary_of(gov, candidate(gov, now), now)


def canary_of(
    gov: Governance, version: PromptVersion, now: datetime
) -> tuple[ApprovalRequest, PromptRollout]:
    """A request for `version` and its canary against production, at the first weight."""
    request = request_for(gov, version, now)
    with gov.store.write() as tx:
        stable = tx.prompts.production(version.prompt_id)
        assert stable is not None
        rollout = prompt_canary.start_in(tx, request, version, stable.version, gov.policy, now)
    return request, rollout


def log_outcomes(
    gov: Governance,
    rollout: PromptRollout,
    at: datetime,
    variant: str,
    outcomes: list[tuple[bool, float]],
) -> None:
    """Renders of one variant at `at`, each with its (success, latency_ms) outcome."""
    version = rollout.candidate_version if variant == "candidate" else rollout.stable_version
    ids = [str(uuid.uuid4()) for _ in outcomes]
    with gov.store.write() as tx:
        tx.prompts.add_renders(
            [
                {"id": rid, "prompt_id": rollout.prompt_id, "version": version,
                 "variant": variant, "targeting_key": f"k-{rid}", "rollout_id": rollout.id,
                 "rendered_at": at}
                for rid in ids
            ]
        )  # fmt: skip
        for rid, (success, latency) in zip(ids, outcomes, strict=True):
            assert tx.prompts.set_outcome(rid, success, latency, at)


def logged_renders(gov: Governance) -> list[dict]:
    """Every row of the render log."""
    from governance.store.tables_prompts import prompt_renders

    with gov.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(prompt_renders.select())]
