"""Scheduled dataset exports (issue 7): the vendor's datasets, their sources, and the writer that upserts them
into PostgreSQL or MySQL/MariaDB."""
