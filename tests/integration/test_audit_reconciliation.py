"""State reconciliation on real SQLite and PostgreSQL: `audit verify` replays the events made
by the real services and names every state-table row that an SQL edit made disagree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_audit_trail import drop_triggers, rows, tamper

from governance.domain.errors import SeparationOfDuties, StateMismatch
from governance.domain.identity import VerifiedActor
from governance.domain.models import LifecycleStage, RiskLevel
from governance.services.promotion import approval_requests, decisions
from governance.services.registry import cards, risk, versions
from governance.services.trust import audit


@pytest.fixture
def governed(gov, now, staged_run, codes, example_card):
    """churn (risk raised to critical) 1.0.0 production (alias champion), 1.1.0 staging with an
    open production request decided by carol and dave (one refusal, one revoke), 1.2.0 with a
    second card revision, every roster person enrolled. Returns the request id."""
    later = now + timedelta(minutes=5)
    versions.set_alias(gov, "churn", "champion", "1.0.0", actor="bob", now=now)
    card = example_card.model_copy(update={"intended_use": "revised use"})
    cards.revise_card(gov, "churn", "1.2.0", card, actor="alice", now=now)
    # Before the request: a risk change voids open requests (their required roles may move).
    risk.change_risk(
        gov,
        "churn",
        RiskLevel.critical,
        actor=VerifiedActor(name="dave", method="totp"),
        reason="now scores patients",
        now=now,
    )
    request = approval_requests.open_approval(
        gov,
        model="churn",
        version="1.1.0",
        target=LifecycleStage.production,
        requester=VerifiedActor(name="alice", method="totp"),
        evaluation_run_id=staged_run.id,
        now=now,
    )
    for approver, role, decision in (
        ("carol", "ml_lead", "approve"),
        ("erin", "legal", "approve"),
        ("erin", "legal", "revoke"),
        ("dave", "risk_officer", "approve"),
    ):
        decisions.decide(
            gov,
            request_id=request.id,
            approver=approver,
            role=role,
            decision=decision,
            code=codes(approver, later),
            now=later,
        )
        later += timedelta(minutes=1)
    with pytest.raises(SeparationOfDuties):
        decisions.decide(
            gov,
            request_id=request.id,
            approver="alice",
            role="ml_engineer",
            decision="approve",
            code=codes("alice", later),
            now=later,
        )
    return request.id


def test_the_services_leave_state_that_matches_their_events(gov, governed):
    report = audit.verify(gov)
    assert report.chain.ok and report.chain.macs_checked
    with gov.engine.connect() as conn:
        counts = [
            conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()
            for table in (
                "registered_models",
                "model_versions",
                "model_aliases",
                "model_cards",
                "approval_requests",
                "approval_decisions",
                "people",
                "evaluation_runs",
            )
        ]
    assert report.state_rows == sum(counts) and counts[5] == 4 and counts[6] >= 5


def edit(gov, *statements: str) -> None:
    for statement in statements:
        tamper(gov, statement)


VERSION_ID = "(SELECT id FROM model_versions WHERE version = '{}')"
EDITS = {
    "stage": (
        (
            "UPDATE model_versions SET stage = 'deprecated' WHERE version = '1.0.0'",
            "UPDATE model_versions SET stage = 'production' WHERE version = '1.1.0'",
        ),
        "model_versions churn@1.1.0: stage is production but the events imply staging",
    ),
    "risk": (
        ("UPDATE registered_models SET risk_level = 'low' WHERE name = 'churn'",),
        "registered_models churn: risk_level is low but the events imply critical",
    ),
    "alias_moved": (
        (f"UPDATE model_aliases SET version_id = {VERSION_ID.format('1.2.0')}",),
        "model_aliases churn@champion: it points at 1.2.0 but the events imply 1.0.0",
    ),
    "alias_added": (
        (
            "INSERT INTO model_aliases (model_id, alias, version_id)"
            " SELECT model_id, 'shadow', id FROM model_versions WHERE version = '1.2.0'",
        ),
        "model_aliases churn@shadow: the table has a row that no event accounts for",
    ),
    "card_hash": (
        (f"UPDATE model_cards SET card_hash = '{'f' * 64}' WHERE revision = 2",),
        f"model_cards churn@1.2.0 revision 2: card_hash is {'f' * 64} but the events imply ",
    ),
    "card_added": (
        (
            "INSERT INTO model_cards (version_id, revision, card, card_hash, created_by,"
            " created_at) SELECT version_id, 9, card, card_hash, 'mallory', created_at"
            " FROM model_cards WHERE revision = 2",
        ),
        "model_cards churn@1.2.0 revision 9: the table has a row that no event accounts for",
    ),
    "card_removed": (
        ("DELETE FROM model_cards WHERE revision = 2",),
        "model_cards churn@1.2.0 revision 2: the events imply a row but the table has none",
    ),
    "version_added": (
        (
            "INSERT INTO model_versions (model_id, version, stage, artifact_uri,"
            " artifact_digest, llm_config, training_data_version, training_pipeline,"
            " hyperparameters, metrics, created_by, created_at, stage_changed_at)"
            " SELECT model_id, '9.9.9', 'staging', artifact_uri, artifact_digest, llm_config,"
            " training_data_version, training_pipeline, hyperparameters, metrics, 'mallory',"
            " created_at, stage_changed_at FROM model_versions WHERE version = '1.2.0'",
        ),
        "model_versions churn@9.9.9: the table has a row that no event accounts for",
    ),
    "request_status": (
        ("UPDATE approval_requests SET status = 'approved'",),
        "approval_requests {request}: status is approved but the events imply open",
    ),
    "request_completed": (
        ("UPDATE approval_requests SET completed_at = created_at",),
        "approval_requests {request}: completed_at is set but the events imply it is not set",
    ),
    "decision_forged": (
        (
            "INSERT INTO approval_decisions (request_id, approver, role, decision, notes,"
            " evidence_digest, policy_version, decided_at, verified) SELECT request_id,"
            " 'frank', 'legal', 'approve', '', evidence_digest, policy_version, decided_at,"
            " verified FROM approval_decisions WHERE approver = 'carol'",
        ),
        "approval_decisions of request {request}: frank as legal decided approve in the table"
        " but no approval.decided event records it",
    ),
    "decision_removed": (
        ("DELETE FROM approval_decisions WHERE approver = 'dave'",),
        "approval_decisions of request {request}: the events record dave as risk_officer"
        " deciding approve but the table has no such row",
    ),
    "decision_changed": (
        ("UPDATE approval_decisions SET decision = 'reject' WHERE approver = 'carol'",),
        "approval_decisions of request {request}: carol as ml_lead decided reject in the table",
    ),
    "person_added": (
        (
            "INSERT INTO people (name, totp_secret, enrolled_at, enrolled_by)"
            " SELECT 'mallory', totp_secret, enrolled_at, 'mallory' FROM people"
            " WHERE name = 'bob'",
        ),
        "people mallory: the table has a row that no person.enrolled event accounts for",
    ),
    "person_removed": (
        ("DELETE FROM people WHERE name = 'frank'",),
        "people frank: the events enrol this person but the table has no row",
    ),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_a_state_table_edit_is_named(case, gov, governed):
    statements, words = EDITS[case]
    before = rows(gov)
    edit(gov, *statements)
    with pytest.raises(StateMismatch) as info:
        audit.verify(gov)
    assert words.format(request=governed) in str(info.value)
    # The trail itself is untouched: chain and MACs still verify.
    assert rows(gov) == before and audit.verify_chain(gov).ok


def test_a_truncated_tail_leaves_rows_no_event_accounts_for(gov, governed):
    drop_triggers(gov)
    last = audit.history(gov, event_type="approval.decided")[-1]
    assert last.actor == "dave"
    tamper(gov, "DELETE FROM audit_events WHERE seq >= :s", {"s": last.seq})
    assert audit.verify_chain(gov).ok  # MACs cannot see a cut tail: checkpoints and state do
    with pytest.raises(StateMismatch) as info:
        audit.verify(gov)
    assert str(info.value) == (
        f"approval_decisions of request {governed}: dave as risk_officer decided approve"
        " in the table but no approval.decided event records it"
    )


def test_unknown_event_types_change_nothing(gov, governed, now):
    with gov.store.write() as tx:
        tx.audit.append("model.weather_noted", actor="bob", now=now, model="churn", details={})
    assert audit.verify(gov).chain.verified == rows(gov)[-1][0]
