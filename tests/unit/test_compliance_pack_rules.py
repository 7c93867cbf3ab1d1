"""The pack's rules without a database: Annex IV, coverage, scores, log slices, retention."""

from __future__ import annotations

import re

import pytest
import yaml

from governance.config import EXAMPLE_POLICY
from governance.domain.annex_iv import ITEMS, POINTS
from governance.domain.audit import (
    GENESIS_HASH,
    canonical_event,
    chain_hash,
    export_line,
    slice_hashes,
)
from governance.domain.compliance_pack import Draft, Source, score_points
from governance.domain.errors import ConfigError
from governance.domain.policy import policy_from_mapping


def test_annex_iv_has_nine_points_and_the_lettered_items_of_points_1_and_2():
    assert list(POINTS) == list(range(1, 10))
    assert [i.id for i in ITEMS if i.point == 1] == [f"1({c})" for c in "abcdefgh"]
    assert [i.id for i in ITEMS if i.point == 2] == [f"2({c})" for c in "abcdefgh"]
    assert [i.id for i in ITEMS if i.point > 2] == [str(n) for n in range(3, 10)]


def test_coverage_follows_what_was_found_and_what_is_missing():
    covered, partial, missing = Draft("4"), Draft("4"), Draft("4")
    covered.need("gate thresholds", True)
    partial.need("gate thresholds", True)
    partial.need("rationale", False)
    missing.need("rationale", False)
    assert (covered.item().coverage, covered.item().reason) == ("covered", "found: gate thresholds")
    assert (partial.item().coverage, partial.item().missing) == ("partial", ["rationale"])
    assert partial.item().reason == "found: gate thresholds; missing: rationale"
    assert (missing.item().coverage, missing.item().reason) == ("missing", "missing: rationale")


def test_a_point_is_covered_only_when_every_item_is():
    items = []
    for spec in ITEMS:
        draft = Draft(spec.id)
        draft.need("the record", spec.id != "1(c)")
        items.append(draft.item())
    points = {p.point: p for p in score_points(items)}
    assert points[1].coverage == "partial"
    assert points[1].reason == "1(c) missing the record"
    assert {p.coverage for n, p in points.items() if n != 1} == {"covered"}


def _promoted(text: str, digest: str = "a" * 64):
    draft = Draft("6").say(text)
    draft.cite(Source(kind="event", ref="#3 model.promoted", digest=digest, seq=3))
    draft.need("lifecycle", True)
    return draft.item()


def test_an_item_hash_changes_with_any_statement_or_source():
    first = _promoted("promoted by bob")
    assert first.content_hash() == _promoted("promoted by bob").content_hash()
    assert first.content_hash() != _promoted("promoted by bop").content_hash()
    assert first.content_hash() != _promoted("promoted by bob", digest="b" * 64).content_hash()


def _row(seq: int, prev: str, details: str = "{}") -> tuple:
    text = canonical_event(seq, f"id-{seq}", "2026-11-23T12:00:00Z", "t", "m", "1", "a", details)
    return (
        seq,
        f"id-{seq}",
        "2026-11-23T12:00:00Z",
        "t",
        "m",
        "1",
        "a",
        details,
        prev,
        chain_hash(prev, text),
        "mac",
    )


def test_a_slice_of_the_chain_checks_what_it_holds():
    first = _row(1, GENESIS_HASH)
    second = _row(2, first[9])
    fifth = _row(5, "f" * 64)  # events 3 and 4 are not in the slice: no link to check
    lines = [export_line(r) for r in (first, second, fifth)]
    assert slice_hashes(lines) == {1: first[9], 2: second[9], 5: fifth[9]}
    with pytest.raises(
        ValueError, match=re.escape("line 2 (event 2): content does not match its hash")
    ):
        slice_hashes([lines[0], lines[1].replace('\\"t\\"', '\\"u\\"'), lines[2]])
    with pytest.raises(ValueError, match=re.escape("line 2: seq 1 is out of order")):
        slice_hashes([lines[0], lines[0]])
    relinked = _row(2, "e" * 64)
    with pytest.raises(
        ValueError, match=re.escape("line 2 (event 2): prev_hash is not event 1's hash")
    ):
        slice_hashes([lines[0], export_line(relinked)])
    with pytest.raises(
        ValueError, match=re.escape("line 1: bytes differ from the record they encode")
    ):
        slice_hashes([lines[0].replace('{"event"', '{ "event"')])


@pytest.mark.parametrize(
    ("retention", "named"),
    [
        ({"logs_months": 5}, "retention.logs_months: 5 months is shorter than the 6 months that "
         "the EU AI Act's Art. 19(1) and 26(6) require"),
        ({"documentation_years": 9}, "retention.documentation_years: 9 years is shorter than the "
         "10 years that the EU AI Act's Art. 18(1) requires"),
    ],
)  # fmt: skip
def test_a_retention_shorter_than_the_law_is_refused_naming_the_article(retention, named):
    data = yaml.safe_load(EXAMPLE_POLICY.read_text())
    data["retention"] = retention
    with pytest.raises(ConfigError) as refused:
        policy_from_mapping(data)
    assert named in str(refused.value)


def test_longer_retention_is_accepted_and_recorded_in_the_policy():
    data = yaml.safe_load(EXAMPLE_POLICY.read_text())
    data["retention"] = {"logs_months": 24, "documentation_years": 12}
    policy = policy_from_mapping(data)
    assert (policy.retention.logs_months, policy.retention.documentation_years) == (24, 12)
