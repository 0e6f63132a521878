"""The SQL stores' two homes: SQLite files (embedded) or one PostgreSQL database (distributed).

``database_target`` reads ``database_url``; ``PgConnection`` puts psycopg behind the
``sqlite3.Connection`` surface the stores use (see ``pg.py`` for exactly what it translates).
psycopg is imported only when a PostgreSQL URL is used: the embedded default needs none of it.
"""

from facesearch.sqlstore.target import DatabaseTarget, database_target

__all__ = ["DatabaseTarget", "database_target"]
