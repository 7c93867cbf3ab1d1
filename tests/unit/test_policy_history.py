"""The differences a `policy.loaded` event records, and the spans of unverified events."""

from __future__ import annotations

from governance.domain.policy_history import IdentitySpan, identity_spans, policy_changes


def test_changes_name_every_key_changed_added_and_removed_by_its_path() -> None:
    before = {"identity": "totp", "roster": {"carol": ["ml_lead"], "frank": ["ml_lead"]}}
    after = {"identity": "none", "roster": {"carol": ["ml_lead"], "zoe": ["legal"]}, "x": {}}
    assert policy_changes(before, after) == {
        "changed": {"identity": {"from": "totp", "to": "none"}},
        "added": {"roster.zoe": ["legal"], "x": {}},
        "removed": {"roster.frank": ["ml_lead"]},
    }


def test_the_first_policy_has_nothing_to_differ_from() -> None:
    assert policy_changes(None, {"identity": "totp"}) == {"changed": {}, "added": {}, "removed": {}}


def test_equal_values_are_no_change() -> None:
    same = {"canary": {"steps": [5, 100], "alpha": 0.05}}
    assert policy_changes(same, dict(same)) == {"changed": {}, "added": {}, "removed": {}}


def test_spans_group_consecutive_events_only() -> None:
    marked = [(9, "t9"), (3, "t3"), (4, "t4"), (5, "t5")]
    assert identity_spans(marked) == [
        IdentitySpan(first_seq=3, last_seq=5, first_ts="t3", last_ts="t5", events=3),
        IdentitySpan(first_seq=9, last_seq=9, first_ts="t9", last_ts="t9", events=1),
    ]
    assert identity_spans([]) == []
