"""The job database's schema and its migrations (one per version, each in a transaction).

Kept apart from :mod:`.store` (how rows are written and read) so a schema change is one
reviewed place: add a migration at the end of :data:`MIGRATIONS`; never edit a shipped one.
"""

from __future__ import annotations

import sqlite3


class StoreError(Exception):
    pass


class ConcurrentUpdate(StoreError):
    """The row changed under us: someone else transitioned the job first."""


SCHEMA_VERSION = 3

#: Ordered migrations: index i upgrades a database at version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        request TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        state TEXT NOT NULL,
        generation INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        spec TEXT NOT NULL,
        tasks TEXT NOT NULL,
        estimate_units REAL NOT NULL,
        error TEXT,
        note TEXT NOT NULL,
        progress REAL NOT NULL,
        result TEXT,
        not_before REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        label TEXT NOT NULL
    );
    CREATE INDEX jobs_by_state ON jobs (state, provider, created_at);
    CREATE INDEX jobs_by_batch ON jobs (batch_id, created_at);
    """,
    """
    ALTER TABLE jobs ADD COLUMN committed_at REAL NOT NULL DEFAULT 0;
    CREATE INDEX jobs_by_commit ON jobs (committed_at);
    CREATE TABLE result_cache (
        key TEXT PRIMARY KEY,
        files TEXT NOT NULL,
        job_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # Chains (jobs.chains): links are ordinary jobs whose ids are chosen -- and recorded
    # with each link's spec template -- before anything is paid; a link's job is inserted
    # when its parent job has succeeded. Elements: characters and products kept per project.
    """
    CREATE TABLE chains (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX chains_by_batch ON chains (batch_id);
    CREATE TABLE chain_links (
        chain_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        job_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        parent TEXT NOT NULL,
        feed TEXT NOT NULL,
        template TEXT NOT NULL,
        label TEXT NOT NULL,
        estimate_units REAL NOT NULL,
        created INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        PRIMARY KEY (chain_id, idx)
    );
    CREATE INDEX chain_links_open ON chain_links (created, parent);
    CREATE TABLE elements (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        images TEXT NOT NULL,
        element_id TEXT,
        description TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX elements_by_name ON elements (project, name COLLATE NOCASE);
    """,
)

def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`, one migration per transaction."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    version = 0
    if has_meta:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the job database is from a newer kling-bridge (schema {version} > "
            f"{SCHEMA_VERSION}); upgrade kling-bridge"
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version
