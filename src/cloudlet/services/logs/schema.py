"""The CloudWatch Logs database schema (``logs.db``), as named migrations.

Everything is scoped by (region, account): a log group row carries both, and
streams and events hang off the group's integer id.  Events get an
``AUTOINCREMENT`` id so that rows with equal timestamps keep a stable order
(their insertion order) and ids are never reused after a delete; every read
orders by ``(timestamp_ms, id)`` and pages with that pair as the key.

Indexes, and the queries they serve:

* ``log_groups (region, account, name)`` (the UNIQUE constraint): look-up by
  name, DescribeLogGroups in name order with prefix ranges.
* ``log_streams (group_id, name)`` (UNIQUE): look-up, DescribeLogStreams by
  name; ``log_streams_last_event``: DescribeLogStreams ordered by
  ``LastEventTime`` (streams without events sort first, as ``-1``).
* ``log_events_stream_time (group_id, stream_id, timestamp_ms, id)``:
  GetLogEvents and FilterLogEvents restricted to streams; also deleting a
  stream's events.
* ``log_events_group_time (group_id, timestamp_ms, id)``: FilterLogEvents over
  a whole group in time order; deleting a group's events; retention purges.
"""

from __future__ import annotations

from cloudlet.storage import Migration

MIGRATIONS: list[Migration] = [
    Migration(
        "logs_0001_initial",
        """
        CREATE TABLE log_groups (
            id INTEGER PRIMARY KEY,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            retention_days INTEGER,
            kms_key_id TEXT,
            log_group_class TEXT NOT NULL DEFAULT 'STANDARD',
            tags TEXT NOT NULL DEFAULT '{}',
            stored_bytes INTEGER NOT NULL DEFAULT 0,
            UNIQUE (region, account, name)
        );
        CREATE TABLE log_streams (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            first_event_ms INTEGER,
            last_event_ms INTEGER,
            last_ingestion_ms INTEGER,
            upload_sequence INTEGER NOT NULL DEFAULT 1,
            UNIQUE (group_id, name)
        );
        CREATE INDEX log_streams_last_event
            ON log_streams (group_id, COALESCE(last_event_ms, -1), name);
        CREATE TABLE log_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id INTEGER NOT NULL,
            stream_id INTEGER NOT NULL,
            timestamp_ms INTEGER NOT NULL,
            ingestion_ms INTEGER NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX log_events_stream_time
            ON log_events (group_id, stream_id, timestamp_ms, id);
        CREATE INDEX log_events_group_time
            ON log_events (group_id, timestamp_ms, id);
        """,
    ),
]
