"""Keyset pages of the trail (store/audit_pages.py): edges, cursors, and the indexes they use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.domain.errors import InvalidInput
from governance.store.audit_pages import TrailFilter, browse, by_time, page_statement

EVENTS = 12


@pytest.fixture
def trail(gov, now):
    """Twelve events: models a/b alternating, actors x/y/z in turn, types t0/t1 in pairs."""
    with gov.store.write() as tx:
        seqs = [
            tx.audit.append(
                f"test.t{i // 2 % 2}",
                actor="xyz"[i % 3],
                model="ab"[i % 2],
                now=now + timedelta(seconds=i),
                details={"i": i},
            ).seq
            for i in range(EVENTS)
        ]
    return gov, seqs


def _seqs(page) -> list[int]:
    return [row[0] for row in page.rows]


def test_pages_walk_newest_first_with_cursors_at_both_edges(trail):
    gov, seq = trail
    a = TrailFilter(model="a")  # the events of even i: 0, 2, ..., 10
    with gov.engine.connect() as conn:
        first = browse(conn, a, limit=2)
        assert _seqs(first) == [seq[10], seq[8]] and first.has_older and not first.has_newer
        middle = browse(conn, a, before=seq[8], limit=2)
        assert _seqs(middle) == [seq[6], seq[4]] and middle.has_older and middle.has_newer
        last = browse(conn, a, before=seq[4], limit=2)
        assert _seqs(last) == [seq[2], seq[0]] and not last.has_older and last.has_newer
        back = browse(conn, a, after=seq[2], limit=2)
        assert _seqs(back) == [seq[6], seq[4]] and back.has_newer and back.has_older
        top = browse(conn, a, after=seq[6], limit=2)
        assert _seqs(top) == [seq[10], seq[8]] and not top.has_newer and top.has_older
        narrow = TrailFilter(model="b", actor="y", event_type="test.t0")
        assert _seqs(browse(conn, narrow)) == [seq[1]]  # i=1: model b, actor y, type t0
        assert _seqs(browse(conn, TrailFilter(actor="nobody"))) == []


def test_a_time_range_is_since_inclusive_until_exclusive(trail, now):
    gov, seq = trail
    window = TrailFilter(since=now + timedelta(seconds=3), until=now + timedelta(seconds=6))
    with gov.engine.connect() as conn:
        assert _seqs(browse(conn, window)) == [seq[5], seq[4], seq[3]]


def test_a_time_window_pages_by_time_without_gaps_even_when_the_clock_went_back(trail, now):
    gov, seq = trail
    with gov.store.write() as tx:  # written last, stamped between events 4 and 5
        late = tx.audit.append("test.late", actor="x", now=now + timedelta(seconds=4.5)).seq
    window = TrailFilter(since=now + timedelta(seconds=2), until=now + timedelta(seconds=8))
    newest_first = [seq[7], seq[6], seq[5], late, seq[4], seq[3], seq[2]]
    with gov.engine.connect() as conn:
        pages, page = [], browse(conn, window, limit=3)
        while True:
            pages.append(_seqs(page))
            if not page.has_older:
                break
            page = browse(conn, window, before=page.rows[-1][0], limit=3)
        assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:]]
        back = browse(conn, window, after=seq[2], limit=3)
        assert _seqs(back) == [late, seq[4], seq[3]] and back.has_newer and back.has_older
        with pytest.raises(InvalidInput, match="there is no event 999999 to page from"):
            browse(conn, window, before=999_999)


def _plan(conn, stmt) -> str:
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


@pytest.mark.parametrize(
    ("flt", "index"),
    [
        (TrailFilter(model="a"), "ix_audit_events_model_seq"),
        (TrailFilter(actor="x"), "ix_audit_events_actor_seq"),
        (TrailFilter(event_type="test.t1"), "ix_audit_events_type_seq"),
        (TrailFilter(since=datetime(2026, 11, 23, tzinfo=UTC)), "ix_audit_events_ts_seq"),
    ],
)
def test_a_filtered_page_reads_its_index_from_the_cursor_without_sorting(trail, flt, index):
    gov, _ = trail
    with gov.engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            # Twelve rows would be scanned whole; ask which index the planner can use.
            for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.exec_driver_sql(f"SET LOCAL {knob} = off")
        for cursor in ({"before": 9}, {"after": 3}):
            if by_time(flt):
                cursor["cursor_ts"] = "2026-11-23T12:00:05.000000Z"
            plan = _plan(conn, page_statement(flt, limit=50, **cursor))
            assert index in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
