"""Persistence: SQLAlchemy 2.x Core tables, repositories returning domain objects, Alembic."""
