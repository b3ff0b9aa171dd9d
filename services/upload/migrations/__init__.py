"""Numbered SQL migrations of the upload service's PostgreSQL schema (``NNN_name.sql``)."""
