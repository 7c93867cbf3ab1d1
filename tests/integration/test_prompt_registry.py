"""The prompt registry service on SQLite and PostgreSQL: versions, status, pointer, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from governance.domain.errors import (
    DuplicateContent,
    IllegalTransition,
    InvalidInput,
    InvalidReference,
    InvalidTemplate,
    PromptNotFound,
    RoleNotHeld,
)
from governance.domain.identity import VerifiedActor
from governance.domain.prompts import PromptStatus
from governance.services.prompts import prompt_registry

ALICE = VerifiedActor(name="alice", method="totp")
CAROL = VerifiedActor(name="carol", method="totp")
TEMPLATE = "You are a support agent for {{ product }}.\nAnswer: {{ question }}\n"


def _events(gov, prefix="prompt."):
    with gov.store.read() as tx:
        return [
            (e.event_type, e.model, e.version)
            for e in tx.audit.query()
            if e.event_type.startswith(prefix)
        ]


def _state(gov):
    with gov.store.read() as tx:
        return [
            (v.version, v.status.value, v.template_digest)
            for pid in tx.prompts.prompt_ids()
            for v in tx.prompts.versions(pid)
        ], len(tx.audit.query())


def test_register_bumps_semver_and_records_the_registrant(gov, now):
    first = prompt_registry.register(
        gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now
    )
    assert (first.version, first.status, first.variables) == (
        "1.0.0",
        PromptStatus.draft,
        ["product", "question"],
    )
    assert first.created_by == "alice"
    second = prompt_registry.register(
        gov, prompt_id="support", template=TEMPLATE + "Be brief.\n", actor=ALICE, now=now
    )
    third = prompt_registry.register(
        gov,
        prompt_id="support",
        template=TEMPLATE + "Be kind.\n",
        actor=ALICE,
        now=now,
        bump="minor",
    )
    fourth = prompt_registry.register(
        gov,
        prompt_id="support",
        template=TEMPLATE + "Be fast.\n",
        actor=ALICE,
        now=now,
        bump="major",
    )
    assert [second.version, third.version, fourth.version] == ["1.0.1", "1.1.0", "2.0.0"]
    assert _events(gov) == [
        ("prompt.registered", "support", v) for v in ("1.0.0", "1.0.1", "1.1.0", "2.0.0")
    ]


@pytest.mark.parametrize(
    ("template", "variables", "error", "words"),
    [
        ("Hello {{ name ", None, InvalidTemplate, "template does not parse: line 1"),
        ("Hi {{ name }} {{ topic }}", ["name"], InvalidTemplate, "used but not declared: topic"),
        ("Hi {{ name }}", ["name", "extra"], InvalidTemplate, "declared but not used: extra"),
        ("{{ ''.__class__ }}", [], InvalidTemplate, "unsafe attribute(s) __class__"),
        ("{{ x|attr('__globals__') }}", ["x"], InvalidTemplate, "unsafe attribute(s) __globals__"),
        ("{{ x['__class__'] }}", ["x"], InvalidTemplate, "unsafe attribute(s) __class__"),
        ("   ", None, InvalidTemplate, "template is empty"),
    ],
)
def test_bad_templates_are_refused_and_change_nothing(gov, now, template, variables, error, words):
    before = _state(gov)
    with pytest.raises(error) as caught:
        prompt_registry.register(
            gov, prompt_id="support", template=template, actor=ALICE, now=now, variables=variables
        )
    assert words in str(caught.value)
    assert _state(gov) == before


def test_identical_content_is_refused_naming_the_latest_version(gov, now):
    prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    before = _state(gov)
    with pytest.raises(DuplicateContent, match=r"identical to the latest version 1\.0\.0"):
        prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    assert _state(gov) == before


def test_status_machine_and_render(gov, now):
    prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    with pytest.raises(PromptNotFound, match="support has no production version yet"):
        prompt_registry.render(gov, "support@production", {"product": "x", "question": "y"})
    reviewed = prompt_registry.submit(gov, "support@1.0.0", actor=ALICE, now=now)
    assert reviewed.status == PromptStatus.review
    with pytest.raises(IllegalTransition, match="illegal status change review -> review"):
        prompt_registry.submit(gov, "support@1.0.0", actor=ALICE, now=now)
    _version, text = prompt_registry.render(
        gov, "support@1.0.0", {"product": "Router", "question": "Why?"}
    )
    assert text == "You are a support agent for Router.\nAnswer: Why?\n"
    with pytest.raises(
        InvalidInput, match=r"support@1\.0\.0 needs variable\(s\) question: missing"
    ):
        prompt_registry.render(gov, "support@1.0.0", {"product": "Router"})
    with pytest.raises(InvalidReference, match="nothing after '@'"):
        prompt_registry.render(gov, "support@", {})


def test_rollback_needs_an_approved_version_and_an_ml_lead(gov, now):
    prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    before = _state(gov)
    with pytest.raises(IllegalTransition, match="it was never approved"):
        prompt_registry.rollback(gov, "support", to="1.0.0", actor=CAROL, now=now)
    with pytest.raises(RoleNotHeld, match="alice does not hold the role ml_lead: prompt rollback"):
        prompt_registry.rollback(gov, "support", to="1.0.0", actor=ALICE, now=now)
    assert _state(gov) == before


def test_at_answers_which_version_served(gov, now):
    v1 = prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    v2 = prompt_registry.register(
        gov, prompt_id="support", template=TEMPLATE + "x\n", actor=ALICE, now=now
    )
    with gov.store.write() as tx:
        for v in (v1, v2):
            tx.prompts.set_status("support", v.version, PromptStatus.approved, now)
        prompt_registry.move_pointer_in(
            tx,
            v1,
            kind="promotion",
            actor="system",
            now=now,
            reason="r",
            request_id="req-1",
            approvers=[{"approver": "carol", "role": "ml_lead"}],
        )
        prompt_registry.move_pointer_in(
            tx, v2, kind="promotion", actor="system", now=now + timedelta(hours=2), reason="r"
        )
    moved = prompt_registry.rollback(
        gov, "support", to="1.0.0", actor=CAROL, now=now + timedelta(hours=4), reason="bad tone"
    )
    assert (moved.version, moved.previous_version, moved.kind, moved.moved_by) == (
        "1.0.0",
        "1.0.1",
        "rollback",
        "carol",
    )
    assert moved.approvers == [{"approver": "carol", "role": "ml_lead"}]
    assert prompt_registry.at(gov, "support", now + timedelta(hours=1)).version == "1.0.0"
    assert prompt_registry.at(gov, "support", now + timedelta(hours=3)).version == "1.0.1"
    assert prompt_registry.at(gov, "support", now + timedelta(hours=5)).version == "1.0.0"
    with pytest.raises(PromptNotFound, match="had no production version at"):
        prompt_registry.at(gov, "support", now - timedelta(hours=1))
    assert prompt_registry.resolve(gov, "support@production").version == "1.0.0"
    assert [e[0] for e in _events(gov)][-3:] == [
        "prompt.promoted",
        "prompt.promoted",
        "prompt.rolled_back",
    ]


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        (
            "UPDATE prompt_versions SET status = 'approved' WHERE version = '1.0.1'",
            "prompt_versions support@1.0.1: it is approved ",
        ),
        (
            f"UPDATE prompt_versions SET template_digest = '{'e' * 64}' WHERE version = '1.0.0'",
            f"prompt_versions support@1.0.0: it is approved {'e' * 64} but the events imply",
        ),
        (
            "UPDATE prompt_pointer_moves SET version = '1.0.1'",
            "prompt_pointer_moves support move 1: it moved to 1.0.1 but the events imply 1.0.0",
        ),
        (
            "DELETE FROM prompt_pointer_moves",
            "prompt_pointer_moves support move 1: the events imply a row but the table has none",
        ),
    ],
)
def test_audit_verify_names_a_prompt_row_edited_behind_the_trail(gov, now, statement, words):
    from governance.domain.errors import StateMismatch
    from governance.services.trust import audit

    v1 = prompt_registry.register(gov, prompt_id="support", template=TEMPLATE, actor=ALICE, now=now)
    prompt_registry.register(
        gov, prompt_id="support", template=TEMPLATE + "x\n", actor=ALICE, now=now
    )
    prompt_registry.submit(gov, "support@1.0.1", actor=ALICE, now=now)
    with gov.store.write() as tx:
        tx.prompts.set_status("support", "1.0.0", PromptStatus.approved, now)
        prompt_registry.move_pointer_in(
            tx, v1, kind="promotion", actor="system", now=now, reason="r"
        )
    assert audit.verify(gov).state_rows > 0
    with gov.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with pytest.raises(StateMismatch) as info:
        audit.verify(gov)
    assert words in str(info.value)
