"""Repository for endpoints, their append-only routing specs, and rollouts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.rollout import (
    ACTIVE_ROLLOUT,
    Endpoint,
    Rollout,
    RoutingSpec,
    SpecVersion,
)
from governance.store.tables_rollout import endpoints, rollouts, routing_specs

e, s, r = endpoints.c, routing_specs.c, rollouts.c
_SPECS = sa.select(
    s.id, e.name, s.number, s.spec, s.actor, s.reason, s.created_at, s.spec_mac
).select_from(routing_specs.join(endpoints, s.endpoint_id == e.id))
# The newest spec number of every endpoint: what the gateway polls to notice changes.
LATEST_NUMBERS = (
    sa.select(e.name, sa.func.max(s.number))
    .select_from(routing_specs.join(endpoints, s.endpoint_id == e.id))
    .group_by(e.name)
)


def _endpoint(row) -> Endpoint:
    return Endpoint.model_validate({k: v for k, v in row._asdict().items() if k != "id"})


def _spec(row) -> SpecVersion:
    return SpecVersion(
        id=row.id,
        endpoint=row.name,
        number=row.number,
        spec=RoutingSpec.model_validate(row.spec),
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
        mac=row.spec_mac,
    )


class RoutingRepository:
    """Reads and writes endpoint, spec and rollout rows in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- endpoints ---------------------------------------------------------------------

    def find_endpoint(self, name: str) -> Endpoint | None:
        """The endpoint with this name, or None."""
        row = self.conn.execute(sa.select(endpoints).where(e.name == name)).first()
        return None if row is None else _endpoint(row)

    def endpoints(self, model_name: str | None = None) -> list[Endpoint]:
        """Every endpoint (of one model, when given), by name."""
        query = sa.select(endpoints).order_by(e.name)
        if model_name is not None:
            query = query.where(e.model_name == model_name)
        return [_endpoint(row) for row in self.conn.execute(query)]

    def insert_endpoint(self, endpoint: Endpoint) -> None:
        """Store a new endpoint."""
        self.conn.execute(endpoints.insert().values(**endpoint.model_dump()))

    def _endpoint_id(self, name: str) -> int:
        return self.conn.execute(sa.select(e.id).where(e.name == name)).scalar_one()

    # --- specs ---------------------------------------------------------------------------

    def latest_spec(self, endpoint: str) -> SpecVersion | None:
        """The endpoint's current routing spec, or None before its first."""
        row = self.conn.execute(
            _SPECS.where(e.name == endpoint).order_by(s.number.desc()).limit(1)
        ).first()
        return None if row is None else _spec(row)

    def spec_at(self, endpoint: str, when: datetime) -> SpecVersion | None:
        """The spec in force at `when`: the newest one created at or before it."""
        row = self.conn.execute(
            _SPECS.where(e.name == endpoint, s.created_at <= when)
            .order_by(s.number.desc())
            .limit(1)
        ).first()
        return None if row is None else _spec(row)

    def spec_number(self, endpoint: str, number: int) -> SpecVersion | None:
        """One numbered spec of the endpoint, or None."""
        row = self.conn.execute(_SPECS.where(e.name == endpoint, s.number == number)).first()
        return None if row is None else _spec(row)

    def history(self, endpoint: str) -> list[SpecVersion]:
        """Every spec of the endpoint, oldest first."""
        return [
            _spec(row)
            for row in self.conn.execute(_SPECS.where(e.name == endpoint).order_by(s.number))
        ]

    def insert_spec(
        self,
        endpoint: str,
        number: int,
        spec: RoutingSpec,
        actor: str,
        reason: str,
        now: datetime,
        mac: str,
    ) -> SpecVersion:
        """Append spec `number` with its MAC; the unique (endpoint, number) refuses a twin."""
        result = self.conn.execute(
            routing_specs.insert().values(
                endpoint_id=self._endpoint_id(endpoint),
                number=number,
                spec=spec.model_dump(mode="json"),
                spec_hash=spec.digest(),
                actor=actor,
                reason=reason,
                created_at=now,
                spec_mac=mac,
            )
        )
        return SpecVersion(
            id=result.inserted_primary_key[0],
            endpoint=endpoint,
            number=number,
            spec=spec,
            actor=actor,
            reason=reason,
            created_at=now,
            mac=mac,
        )

    def latest_numbers(self) -> dict[str, int]:
        """Endpoint name -> its newest spec number (one cheap query for the gateway's poll)."""
        return {name: number for name, number in self.conn.execute(LATEST_NUMBERS)}

    # --- rollouts ------------------------------------------------------------------------

    def active_rollout(self, endpoint: str) -> Rollout | None:
        """The endpoint's running or holding rollout, or None."""
        row = self.conn.execute(
            sa.select(r.state)
            .select_from(rollouts.join(endpoints, r.endpoint_id == e.id))
            .where(e.name == endpoint, r.status.in_([x.value for x in ACTIVE_ROLLOUT]))
        ).first()
        return None if row is None else Rollout.model_validate(row.state)

    def rollout_by_id(self, rollout_id: str) -> Rollout | None:
        """One rollout by id, or None."""
        row = self.conn.execute(sa.select(r.state).where(r.id == rollout_id)).first()
        return None if row is None else Rollout.model_validate(row.state)

    def rollout_for_request(self, request_id: str) -> Rollout | None:
        """The rollout carrying out this approval request, or None."""
        row = self.conn.execute(sa.select(r.state).where(r.request_id == request_id)).first()
        return None if row is None else Rollout.model_validate(row.state)

    def rollouts(self, statuses: tuple[str, ...]) -> list[Rollout]:
        """Every rollout in one of `statuses`."""
        rows = self.conn.execute(sa.select(r.state).where(r.status.in_(statuses)))
        return [Rollout.model_validate(row.state) for row in rows]

    def rollouts_of(self, endpoint: str) -> list[Rollout]:
        """Every rollout on the endpoint, oldest first."""
        rows = self.conn.execute(
            sa.select(r.state)
            .select_from(rollouts.join(endpoints, r.endpoint_id == e.id))
            .where(e.name == endpoint)
            .order_by(r.created_at)
        )
        return [Rollout.model_validate(row.state) for row in rows]

    def insert_rollout(self, rollout: Rollout, now: datetime) -> None:
        """Store a new rollout (the partial unique index allows one active per endpoint)."""
        self.conn.execute(
            rollouts.insert().values(
                id=rollout.id,
                endpoint_id=self._endpoint_id(rollout.endpoint),
                request_id=rollout.request_id,
                flow_run_id=rollout.flow_run_id,
                status=rollout.status.value,
                state=rollout.model_dump(mode="json"),
                heartbeat_at=rollout.heartbeat_at,
                created_at=now,
            )
        )

    def save_rollout(self, rollout: Rollout) -> None:
        """Write the rollout's progress back."""
        self.conn.execute(
            rollouts.update()
            .where(r.id == rollout.id)
            .values(
                status=rollout.status.value,
                state=rollout.model_dump(mode="json"),
                heartbeat_at=rollout.heartbeat_at,
            )
        )
