"""Repository for prompt versions, the pointer's moves, suites, evaluations and canaries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.errors import PromptNotFound
from governance.domain.models import semver_key
from governance.domain.prompt_rollout import PromptRollout, PromptRolloutStatus
from governance.domain.prompts import (
    PointerMove,
    PromptEvaluation,
    PromptStatus,
    PromptVersion,
    RegisteredSuite,
)
from governance.store.tables_prompts import (
    prompt_evaluations,
    prompt_pointer_moves,
    prompt_render_outcomes,
    prompt_renders,
    prompt_rollouts,
    prompt_suites,
    prompt_versions,
)

pv, mv, ps = prompt_versions.c, prompt_pointer_moves.c, prompt_suites.c
pe, pr, rn = prompt_evaluations.c, prompt_rollouts.c, prompt_renders.c
ro = prompt_render_outcomes.c


def _row(row, *drop: str) -> dict:
    return {k: v for k, v in row._asdict().items() if k not in drop}


class PromptRepository:
    """Reads and writes prompt rows on the caller's connection and transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- versions -----------------------------------------------------------------------

    def versions(self, prompt_id: str) -> list[PromptVersion]:
        """Every version of a prompt, oldest semver first."""
        rows = self.conn.execute(sa.select(prompt_versions).where(pv.prompt_id == prompt_id))
        found = [PromptVersion.model_validate(r._asdict()) for r in rows]
        return sorted(found, key=lambda v: semver_key(v.version))

    def prompt_ids(self) -> list[str]:
        """Every prompt id with at least one version, sorted."""
        stmt = sa.select(pv.prompt_id).distinct().order_by(pv.prompt_id)
        return list(self.conn.execute(stmt).scalars())

    def exists(self, prompt_id: str) -> bool:
        """Whether the prompt has any version (one indexed lookup, no templates read)."""
        stmt = sa.select(pv.id).where(pv.prompt_id == prompt_id).limit(1)
        return self.conn.execute(stmt).first() is not None

    def find_version(self, prompt_id: str, version: str) -> PromptVersion | None:
        """One version, or None."""
        row = self.conn.execute(
            sa.select(prompt_versions).where(pv.prompt_id == prompt_id, pv.version == version)
        ).first()
        return PromptVersion.model_validate(row._asdict()) if row else None

    def get_version(self, prompt_id: str, version: str) -> PromptVersion:
        """One version, or PromptNotFound naming it."""
        found = self.find_version(prompt_id, version)
        if found is None:
            known = [v.version for v in self.versions(prompt_id)]
            have = f"it has {', '.join(known)}" if known else "no such prompt"
            raise PromptNotFound(f"unknown prompt version {prompt_id}@{version}: {have}")
        return found

    def add_version(self, version: PromptVersion) -> PromptVersion:
        """Insert a new version and return it with its id."""
        values = version.model_dump(exclude={"id"}, mode="python")
        new_id = self.conn.execute(prompt_versions.insert().values(**values)).inserted_primary_key
        return version.model_copy(update={"id": new_id[0]})

    def set_status(self, prompt_id: str, version: str, status: PromptStatus, now: datetime) -> None:
        """Record a status change."""
        self.conn.execute(
            prompt_versions.update()
            .where(pv.prompt_id == prompt_id, pv.version == version)
            .values(status=status.value, status_changed_at=now)
        )

    # --- the production pointer ---------------------------------------------------------

    def moves(self, prompt_id: str) -> list[PointerMove]:
        """Every move of the pointer, oldest first."""
        stmt = (
            sa.select(prompt_pointer_moves)
            .where(mv.prompt_id == prompt_id)
            .order_by(mv.moved_at, mv.id)
        )
        return [PointerMove.model_validate(_row(r, "id")) for r in self.conn.execute(stmt)]

    def production(self, prompt_id: str) -> PointerMove | None:
        """The move that put the current production version there, or None."""
        stmt = (
            sa.select(prompt_pointer_moves)
            .where(mv.prompt_id == prompt_id)
            .order_by(mv.moved_at.desc(), mv.id.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).first()
        return PointerMove.model_validate(_row(row, "id")) if row else None

    def add_move(self, move: PointerMove) -> None:
        """Append a move of the pointer."""
        self.conn.execute(prompt_pointer_moves.insert().values(**move.model_dump()))

    # --- suites -------------------------------------------------------------------------

    def add_suite(self, suite: RegisteredSuite) -> RegisteredSuite:
        """Insert a suite registration and return it with its id."""
        values = suite.model_dump(exclude={"id"})
        new_id = self.conn.execute(prompt_suites.insert().values(**values)).inserted_primary_key
        return suite.model_copy(update={"id": new_id[0]})

    def find_suite(self, name: str, digest: str | None = None) -> RegisteredSuite | None:
        """The suite of this name (with this digest, or the latest registered), or None."""
        stmt = sa.select(prompt_suites).where(ps.name == name)
        if digest:
            stmt = stmt.where(ps.digest.startswith(digest))
        row = self.conn.execute(stmt.order_by(ps.registered_at.desc(), ps.id.desc())).first()
        return RegisteredSuite.model_validate(row._asdict()) if row else None

    def suite_by_id(self, suite_id: int) -> RegisteredSuite:
        """A registered suite by its id."""
        row = self.conn.execute(sa.select(prompt_suites).where(ps.id == suite_id)).one()
        return RegisteredSuite.model_validate(row._asdict())

    def suites(self) -> list[RegisteredSuite]:
        """Every suite registration, by name then time."""
        stmt = sa.select(prompt_suites).order_by(ps.name, ps.registered_at, ps.id)
        return [RegisteredSuite.model_validate(r._asdict()) for r in self.conn.execute(stmt)]

    # --- evaluations --------------------------------------------------------------------

    def add_evaluation(
        self,
        evaluation: PromptEvaluation,
        *,
        prompt_version_id: int | None = None,
        model_version_id: int | None = None,
    ) -> None:
        """Insert an evaluation of a prompt version or an LLM model version."""
        values = evaluation.model_dump(exclude={"suite", "subject"}, mode="json")
        values["created_at"] = evaluation.created_at
        self.conn.execute(
            prompt_evaluations.insert().values(
                **values,
                suite_id=evaluation.suite.id,
                prompt_version_id=prompt_version_id,
                model_version_id=model_version_id,
            )
        )

    def find_evaluation(self, evaluation_id: str, subject: str) -> PromptEvaluation | None:
        """An evaluation by id (labelled with `subject`), or None."""
        row = self.conn.execute(sa.select(prompt_evaluations).where(pe.id == evaluation_id)).first()
        if row is None:
            return None
        data = _row(row, "suite_id", "prompt_version_id", "model_version_id")
        suite = self.suite_by_id(row.suite_id)
        return PromptEvaluation.model_validate({**data, "suite": suite, "subject": subject})

    def evaluated_model_version(self, evaluation_id: str) -> int | None:
        """The id of the LLM model version an evaluation ran on, or None (a prompt's, or none)."""
        stmt = sa.select(pe.model_version_id).where(pe.id == evaluation_id)
        return self.conn.execute(stmt).scalar()

    def evaluation_for_run(self, flow_run_id: str) -> str | None:
        """The id of the evaluation a flow run recorded, so a re-run does not evaluate twice."""
        stmt = sa.select(pe.id).where(pe.flow_run_id == flow_run_id).limit(1)
        return self.conn.execute(stmt).scalar()

    # --- canaries -----------------------------------------------------------------------

    def save_rollout(self, rollout: PromptRollout) -> None:
        """Insert or update a canary."""
        values = rollout.model_dump(mode="python")
        values["status"] = rollout.status.value
        values["weight"] = rollout.weight
        exists = self.conn.execute(sa.select(pr.id).where(pr.id == rollout.id)).first()
        if exists:
            self.conn.execute(prompt_rollouts.update().where(pr.id == rollout.id).values(values))
        else:
            self.conn.execute(prompt_rollouts.insert().values(values))

    def _rollout_where(self, *where) -> PromptRollout | None:
        row = self.conn.execute(sa.select(prompt_rollouts).where(*where).limit(1)).first()
        return PromptRollout.model_validate(_row(row, "weight")) if row else None

    def running_rollout(self, prompt_id: str) -> PromptRollout | None:
        """The prompt's running canary, or None."""
        running = PromptRolloutStatus.running.value
        return self._rollout_where(pr.prompt_id == prompt_id, pr.status == running)

    def rollout_by_id(self, rollout_id: str) -> PromptRollout | None:
        """A canary by its id, or None."""
        return self._rollout_where(pr.id == rollout_id)

    def rollout_for_request(self, request_id: str) -> PromptRollout | None:
        """The canary an approval request carried, or None."""
        return self._rollout_where(pr.request_id == request_id)

    # --- renders and their outcomes -----------------------------------------------------

    def add_renders(self, rows: list[dict]) -> None:
        """Append logged renders (id, prompt_id, version, variant, targeting_key, rollout_id)."""
        if rows:
            self.conn.execute(prompt_renders.insert(), rows)

    def set_outcome(
        self,
        render_id: str,
        success: bool,
        latency_ms: float | None,
        now,
        client: str | None = None,
    ) -> bool:
        """Record a render's outcome (posted by `client`) once; False when the id is unknown
        or already has one.

        An insert, never an update (the gateway's database role may only append). A
        concurrent twin that inserts first makes this insert fail on the primary key.
        """
        if not self.render_exists(render_id) or self.outcome_exists(render_id):
            return False
        self.conn.execute(
            prompt_render_outcomes.insert().values(
                render_id=render_id,
                success=success,
                latency_ms=latency_ms,
                recorded_at=now,
                client=client,
            )
        )
        return True

    def render_exists(self, render_id: str) -> bool:
        """Whether a render with this id was logged."""
        return self.conn.execute(sa.select(rn.id).where(rn.id == render_id)).first() is not None

    def outcome_exists(self, render_id: str) -> bool:
        """Whether the render's outcome is recorded."""
        stmt = sa.select(ro.render_id).where(ro.render_id == render_id)
        return self.conn.execute(stmt).first() is not None

    def outcomes(self, rollout_id: str, since: datetime) -> list[tuple[str, bool, float]]:
        """(variant, success, latency_ms) of a canary's renders with an outcome since `since`."""
        stmt = (
            sa.select(rn.variant, ro.success, ro.latency_ms)
            .select_from(prompt_renders.join(prompt_render_outcomes, ro.render_id == rn.id))
            .where(rn.rollout_id == rollout_id, rn.rendered_at >= since)
        )
        return [
            (r.variant, bool(r.success), float(r.latency_ms or 0)) for r in self.conn.execute(stmt)
        ]

    def running_rollouts(self) -> list[PromptRollout]:
        """Every running prompt canary."""
        running = PromptRolloutStatus.running.value
        rows = self.conn.execute(sa.select(prompt_rollouts).where(pr.status == running))
        return [PromptRollout.model_validate(_row(r, "weight")) for r in rows]

    def touch(self, rollout_id: str, now: datetime) -> None:
        """Record that the canary's controlling run is alive (the watchdog reads it)."""
        self.conn.execute(
            prompt_rollouts.update().where(pr.id == rollout_id).values(updated_at=now)
        )
