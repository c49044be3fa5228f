"""The S3 database: buckets, their configurations, objects (every version), uploads, parts.

Bytes live in files under ``<data dir>/s3/data`` (see :mod:`.files`); a row
names its file in ``blob`` (TEXT).  A body of at most ``files.INLINE_MAX``
bytes is the ``blob`` value itself (a BLOB), committed with its row.  ``seq`` orders the versions of a key (newest =
highest) and doubles as the notification ``sequencer``.  The partial index on
``is_latest`` is what listing pages through, one key range at a time.
"""

from __future__ import annotations

from cloudlet.events import outbox_migration
from cloudlet.storage import Migration

MIGRATIONS: list[Migration] = [
    Migration(
        "s3-1",
        """
        CREATE TABLE buckets (
            name TEXT PRIMARY KEY,
            account_id TEXT NOT NULL,
            region TEXT NOT NULL,
            created REAL NOT NULL,
            versioning TEXT
        );
        CREATE TABLE bucket_config (
            bucket TEXT NOT NULL,
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (bucket, kind)
        );
        CREATE TABLE objects (
            bucket TEXT NOT NULL,
            key TEXT NOT NULL,
            version_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            is_latest INTEGER NOT NULL,
            delete_marker INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL DEFAULT 0,
            etag TEXT NOT NULL DEFAULT '',
            last_modified REAL NOT NULL,
            blob TEXT,
            meta TEXT NOT NULL DEFAULT '{}',
            tags TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (bucket, key, version_id)
        );
        CREATE INDEX objects_latest ON objects (bucket, key) WHERE is_latest = 1;
        CREATE INDEX objects_versions ON objects (bucket, key, seq);
        CREATE TABLE uploads (
            upload_id TEXT PRIMARY KEY,
            bucket TEXT NOT NULL,
            key TEXT NOT NULL,
            initiated REAL NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            tags TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX uploads_key ON uploads (bucket, key, initiated);
        CREATE TABLE parts (
            upload_id TEXT NOT NULL,
            part_number INTEGER NOT NULL,
            size INTEGER NOT NULL,
            etag TEXT NOT NULL,
            last_modified REAL NOT NULL,
            blob TEXT NOT NULL,
            checksums TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (upload_id, part_number)
        );
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters VALUES ('seq', 0);
        """,
    ),
    outbox_migration("outbox"),
    # Versions newest first within a key, as ListObjectVersions pages them: the index
    # gives that order directly instead of a sort of each key's versions per page.
    Migration(
        "s3-versions-newest-first",
        """
        DROP INDEX objects_versions;
        CREATE INDEX objects_versions ON objects (bucket, key, seq DESC);
        """,
    ),
]
