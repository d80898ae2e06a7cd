"""Alembic migrations for the engine's schema; run through ``engine.persistence.schema.upgrade``."""
