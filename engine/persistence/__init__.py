"""Persistence: typed SQLAlchemy models, database set-up and migrations."""
