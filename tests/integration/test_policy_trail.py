"""Policy changes leave a trace: `policy.loaded` on the first write under each version, with
its differences from the one before; `audit verify` names the spans written with identities
off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from governance.bootstrap import open_governance
from governance.config import EXAMPLE_POLICY
from governance.domain.identity import NOT_VERIFIED
from governance.domain.policy_history import IdentitySpan, policy_document
from governance.services.trust import audit, identity


def write_policy(gov, tmp_path: Path, name: str, edit) -> None:
    """Point the instance at an edited copy of the example policy, as an operator would."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    edit(policy)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(policy))
    gov.settings.policy_file = path
    gov.reload_policy()


def types(gov) -> list[str]:
    return [e.event_type for e in audit.history(gov)]


def test_the_first_write_under_a_policy_records_it_once(gov, now):
    identity.enroll(gov, "carol", actor="admin", now=now)
    identity.enroll(gov, "dave", actor="admin", now=now)
    assert types(gov) == ["policy.loaded", "person.enrolled", "person.enrolled"]
    [loaded] = audit.history(gov, event_type="policy.loaded")
    assert loaded.actor == "system" and loaded.ts == "2026-11-23T12:00:00.000000Z"
    assert loaded.details == {
        "digest": gov.policy.version,
        "previous": None,
        "identity": "totp",
        "policy": policy_document(gov.policy),
        "changed": {},
        "added": {},
        "removed": {},
    }
    # Another process under the same policy finds it recorded and adds nothing.
    other = open_governance(gov.settings)
    try:
        identity.enroll(other, "erin", actor="admin", now=now)
    finally:
        other.close()
    assert types(gov).count("policy.loaded") == 1


def test_an_edited_policy_is_recorded_with_what_changed(gov, now, tmp_path):
    identity.enroll(gov, "carol", actor="admin", now=now)
    first = gov.policy.version

    def edit(policy):
        policy["approval_timeout_hours"] = 24
        policy["approvals"]["production"] = ["ml_lead"]
        policy["roster"]["zoe"] = ["legal"]
        del policy["roster"]["frank"]

    write_policy(gov, tmp_path, "edited.yaml", edit)
    identity.enroll(gov, "dave", actor="admin", now=now + timedelta(hours=1))
    assert types(gov) == ["policy.loaded", "person.enrolled", "policy.loaded", "person.enrolled"]
    loaded = audit.history(gov, event_type="policy.loaded")[-1]
    assert loaded.details["digest"] == gov.policy.version != first
    assert loaded.details["previous"] == first
    assert loaded.details["changed"] == {
        "approval_timeout_hours": {"from": 72.0, "to": 24.0},
        "approvals.production": {"from": ["ml_lead", "risk_officer"], "to": ["ml_lead"]},
    }
    assert loaded.details["added"] == {"roster.zoe": ["legal"]}
    assert loaded.details["removed"] == {"roster.frank": ["ml_lead", "risk_officer"]}
    assert audit.verify(gov).chain.ok


def test_a_return_to_an_earlier_policy_is_recorded_again(gov, now, tmp_path):
    identity.enroll(gov, "carol", actor="admin", now=now)
    first = gov.policy.version
    write_policy(gov, tmp_path, "a.yaml", lambda p: p.update(approval_timeout_hours=24))
    identity.enroll(gov, "dave", actor="admin", now=now)
    write_policy(gov, tmp_path, "b.yaml", lambda p: None)
    identity.enroll(gov, "erin", actor="admin", now=now)
    digests = [e.details["digest"] for e in audit.history(gov, event_type="policy.loaded")]
    assert digests[0] == digests[2] == first != digests[1]


def test_audit_verify_names_every_span_written_with_identities_off(gov, now, tmp_path):
    identity.enroll(gov, "carol", actor="admin", now=now)  # seq 1 policy.loaded, 2 enrolled
    none = lambda p: p.update(identity="none")  # noqa: E731
    write_policy(gov, tmp_path, "none.yaml", none)
    later = now + timedelta(hours=1)
    identity.login(gov, "alice", None, now=later)  # 3 policy.loaded, 4 logged_in
    identity.login(gov, "bob", None, now=later + timedelta(minutes=5))  # 5
    write_policy(gov, tmp_path, "totp.yaml", lambda p: None)
    identity.enroll(gov, "dave", actor="admin", now=now + timedelta(hours=2))  # 6, 7
    write_policy(gov, tmp_path, "none.yaml", none)
    identity.login(gov, "erin", None, now=now + timedelta(hours=3))  # 8, 9
    events = audit.history(gov)
    assert [e.seq for e in events if e.details.get("identity") == NOT_VERIFIED] == [3, 4, 5, 8, 9]
    assert events[2].event_type == "policy.loaded"
    assert events[2].details["changed"] == {"identity": {"from": "totp", "to": "none"}}
    report = audit.verify(gov)
    assert report.identity_off == [
        IdentitySpan(
            first_seq=3,
            last_seq=5,
            first_ts="2026-11-23T13:00:00.000000Z",
            last_ts="2026-11-23T13:05:00.000000Z",
            events=3,
        ),
        IdentitySpan(
            first_seq=8,
            last_seq=9,
            first_ts="2026-11-23T15:00:00.000000Z",
            last_ts="2026-11-23T15:00:00.000000Z",
            events=2,
        ),
    ]
