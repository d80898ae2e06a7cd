"""Alembic revision scripts, oldest first (``0001_initial`` matches ``engine.persistence.models``)."""
