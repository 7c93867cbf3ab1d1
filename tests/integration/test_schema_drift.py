"""The schema is written twice (tables_*.py, the migrations): a migrated database must match.

Two checks, on SQLite and PostgreSQL:
- Alembic's autogenerate comparison of an empty database upgraded to head with the metadata
  (tables, columns, types, nullability, server defaults, indexes, unique and foreign keys);
- what that comparison does not look at: partial-index predicates (they carry invariants
  such as "one production version per model") and constraint names (what a later migration
  drops or alters a constraint by). Both are read back by the database's own reflection from
  the migrated database and from one made by `metadata.create_all`, so each side is
  normalised by the same server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pprint import pformat

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from governance.store.engine import create_store_engine
from governance.store.schema import upgrade
from governance.store.tables import metadata

# No filter (include_object) is needed: on both backends the comparison finds no artefact
# to excuse. Alembic leaves its own alembic_version table out; the audit triggers live only
# in the migrations and autogenerate does not compare triggers.
COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True}
DIFFER = "the migrations and the metadata (governance/store/tables_*.py) differ:\n"


@pytest.fixture
def migrated(database_url: str) -> Iterator[Engine]:
    """An empty database upgraded to head by the shipped migrations."""
    engine = create_store_engine(database_url, sqlite_busy_timeout_ms=5000)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def scratch_url(request, database_url: str, tmp_path) -> Iterator[str]:
    """A second empty database on the same backend, for a schema made from metadata."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'from_metadata.db'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


def differences(engine: Engine, target: sa.MetaData) -> list:
    """Alembic's diff from the database to `target` (empty when they match)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
        return compare_metadata(context, target)


def _predicate(index: dict) -> str | None:
    options = index.get("dialect_options", {})
    where = options.get("sqlite_where", options.get("postgresql_where"))
    # SQLite hands back the clause as written, PostgreSQL its own normalised text.
    return getattr(where, "text", where)


def catalogue(engine: Engine) -> dict[str, dict[str, list]]:
    """Per table: indexes with their predicates, and named keys, as the database reports them."""
    inspector = sa.inspect(engine)
    found = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        indexes = inspector.get_indexes(table)
        keys = inspector.get_foreign_keys(table)
        uniques = inspector.get_unique_constraints(table)
        found[table] = {
            "indexes": sorted(
                (i["name"], bool(i["unique"]), i["column_names"], _predicate(i)) for i in indexes
            ),
            "foreign_keys": sorted(
                (k["name"] or "", k["constrained_columns"], k["referred_table"]) for k in keys
            ),
            "unique": sorted((u["name"] or "", u["column_names"]) for u in uniques),
            "primary_key": inspector.get_pk_constraint(table)["name"],
        }
    return found


def catalogue_from(url: str, target: sa.MetaData) -> dict[str, dict[str, list]]:
    """The catalogue of a database made by `target.create_all` at `url`."""
    engine = create_store_engine(url, sqlite_busy_timeout_ms=5000)
    try:
        target.create_all(engine)
        return catalogue(engine)
    finally:
        engine.dispose()


def mismatches(migrated: dict, expected: dict) -> dict[str, dict]:
    """Only the entries that differ, both sides shown, for a readable assertion message."""
    return {
        f"{table}.{part}": {"migrated": migrated.get(table, {}).get(part), "metadata": want}
        for table, parts in expected.items()
        for part, want in parts.items()
        if migrated.get(table, {}).get(part) != want
    } | {table: "only in the migrated database" for table in migrated.keys() - expected.keys()}


def test_migrations_upgrade_an_empty_database_to_the_metadata(migrated) -> None:
    diff = differences(migrated, metadata)
    assert diff == [], DIFFER + pformat(diff)


def test_partial_indexes_and_constraint_names_match_the_metadata(migrated, scratch_url) -> None:
    found = mismatches(catalogue(migrated), catalogue_from(scratch_url, metadata))
    assert found == {}, DIFFER + pformat(found)


# The checks above pass only if they can fail: each drift below must be reported.


def copy_of_metadata() -> sa.MetaData:
    """A deep copy of the schema that a test may change without touching the real one."""
    copy = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _index(table: sa.Table, name: str) -> sa.Index:
    return next(index for index in table.indexes if index.name == name)


def test_the_comparison_reports_changed_types_nullability_defaults_and_indexes(migrated) -> None:
    drifted = copy_of_metadata()
    endpoints = drifted.tables["endpoints"]
    endpoints.c.seed.type = sa.String(65)
    endpoints.c.model_name.nullable = True
    drifted.tables["approval_requests"].c.kind.server_default = sa.DefaultClause("retirement")
    rollouts = drifted.tables["rollouts"]
    rollouts.indexes.remove(_index(rollouts, "ix_rollouts_request"))

    summary = set()
    for entry in differences(migrated, drifted):
        for change in entry if isinstance(entry, list) else [entry]:
            kind = change[0]
            named = change[1].name if kind.endswith("index") else f"{change[2]}.{change[3]}"
            summary.add((kind, named))
    assert summary == {
        ("modify_type", "endpoints.seed"),
        ("modify_nullable", "endpoints.model_name"),
        ("modify_default", "approval_requests.kind"),
        ("remove_index", "ix_rollouts_request"),
    }


def test_the_catalogue_reports_a_changed_predicate_and_a_renamed_key(migrated, scratch_url) -> None:
    drifted = copy_of_metadata()
    rollouts = drifted.tables["rollouts"]
    rollouts.indexes.remove(_index(rollouts, "uq_rollouts_one_active"))
    running = sa.text("status = 'running'")
    sa.Index(
        "uq_rollouts_one_active",
        rollouts.c.endpoint_id,
        unique=True,
        sqlite_where=running,
        postgresql_where=running,
    )
    routing = drifted.tables["routing_specs"]
    named = {c.name: c for c in routing.constraints}
    routing.constraints.remove(named["uq_routing_specs_endpoint_number"])
    routing.append_constraint(sa.UniqueConstraint("endpoint_id", "number", name="uq_renamed"))

    found = mismatches(catalogue(migrated), catalogue_from(scratch_url, drifted))
    # PostgreSQL also lists the index behind each unique constraint among the indexes.
    backing = {"routing_specs.indexes"} if migrated.dialect.name == "postgresql" else set()
    assert set(found) == {"rollouts.indexes", "routing_specs.unique"} | backing
    # SQLite reports the clause as written; PostgreSQL as it normalises it.
    assert [p for *_, p in found["rollouts.indexes"]["metadata"] if p] in (
        ["status = 'running'"],
        ["((status)::text = 'running'::text)"],
    )
    assert [n for n, _ in found["routing_specs.unique"]["metadata"]] == ["uq_renamed"]
