"""Scheduled dataset exports (issue 7): the vendor's datasets and the writer that upserts them into PostgreSQL."""
