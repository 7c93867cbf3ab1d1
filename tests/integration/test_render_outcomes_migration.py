"""Migration 0013 moves each prompt render's outcome into prompt_render_outcomes, once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from governance.store.engine import create_store_engine
from governance.store.schema import _config, current_revision, head_revision, upgrade
from governance.store.tables_prompts import prompt_render_outcomes, prompt_renders

BEFORE = "0010_run_parameters"
RENDERED = datetime(2026, 11, 23, 12, 0)
ANSWERED = datetime(2026, 11, 23, 12, 5)


def test_outcomes_recorded_before_the_migration_are_kept(database_url):
    engine = create_store_engine(database_url, sqlite_busy_timeout_ms=5000)
    try:
        config = _config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, BEFORE)
        old = sa.table(
            "prompt_renders",
            *(sa.column(c) for c in ("id", "prompt_id", "version", "variant", "targeting_key")),
            *(sa.column(c) for c in ("rollout_id", "rendered_at", "success", "latency_ms")),
            sa.column("outcome_at"),
        )
        base = {"prompt_id": "support", "version": "1.0.0", "variant": "stable",
                "targeting_key": "k", "rollout_id": "r1", "rendered_at": RENDERED}  # fmt: skip
        with engine.begin() as conn:
            conn.execute(
                old.insert(),
                [
                    {**base, "id": "answered", "success": True, "latency_ms": 12.5,
                     "outcome_at": ANSWERED},
                    {**base, "id": "failed", "success": False, "latency_ms": None,
                     "outcome_at": None},
                    {**base, "id": "waiting", "success": None, "latency_ms": None,
                     "outcome_at": None},
                ],
            )  # fmt: skip
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            moved = conn.execute(
                # The columns this migration made (a later one adds `client`).
                sa.select(
                    prompt_render_outcomes.c.render_id,
                    prompt_render_outcomes.c.success,
                    prompt_render_outcomes.c.latency_ms,
                    prompt_render_outcomes.c.recorded_at,
                ).order_by(prompt_render_outcomes.c.render_id)
            ).all()
            renders = conn.execute(sa.select(prompt_renders.c.id).order_by("id")).scalars()
            assert renders.all() == ["answered", "failed", "waiting"]
            columns = {c["name"] for c in sa.inspect(conn).get_columns("prompt_renders")}
        # An outcome with no time of its own is dated by its render.
        assert [tuple(row) for row in moved] == [
            ("answered", True, 12.5, ANSWERED.replace(tzinfo=UTC)),
            ("failed", False, None, RENDERED.replace(tzinfo=UTC)),
        ]
        assert not columns & {"success", "latency_ms", "outcome_at"}
    finally:
        engine.dispose()
