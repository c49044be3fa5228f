"""CloudWatch Logs state in SQLite: log groups, streams and events.

``LogsStore`` is the only code that touches ``logs.db`` (schema in
``schema.py``).  Every method is scoped by (region, account).  Writes are
single jobs on the database's writer thread, so each is atomic: PutLogEvents
checks the group and stream, inserts the accepted events and updates the
stream's timestamps, its upload sequence and the group's stored bytes in one
job; ``put_events`` (what Lambda calls) does the same and creates the group
and stream first when they are missing.  Reads run each call in one snapshot.

Lists are paged by key (``name > last`` / ``(timestamp, id) > last``) with
``LIMIT n + 1`` so no call ever loads a whole table; the extra row only says
whether another page exists.  The store raises the service's own errors
(``ResourceNotFoundException`` …) so the provider can pass them straight on.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudlet.services.logs.errors import (
    GROUP_EXISTS,
    GROUP_NOT_FOUND,
    STREAM_EXISTS,
    STREAM_NOT_FOUND,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    TooManyTagsException,
)
from cloudlet.services.logs.filters import MATCH_ALL, CompiledPattern
from cloudlet.services.logs.model import (
    DAY_MS,
    MAX_TAGS,
    EventKey,
    Rejections,
    classify,
)
from cloudlet.storage import Database

#: Rows a FilterLogEvents call evaluates in Python before it returns a
#: ``nextToken`` (possibly with no events), as AWS does for long searches.
FILTER_SCAN_LIMIT = 100_000
#: At most this many streams are reported in ``searchedLogStreams``.
SEARCHED_STREAMS_LIMIT = 100
#: Sorts after every valid stream name (used as the end of a prefix range).
_MAX_CHAR = "\U0010ffff"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class LogGroup:
    id: int
    region: str
    account_id: str
    name: str
    created_ms: int
    retention_days: int | None
    kms_key_id: str | None
    log_group_class: str
    tags: dict[str, str]
    stored_bytes: int


@dataclass(frozen=True)
class LogStream:
    id: int
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    upload_sequence: int


@dataclass(frozen=True)
class LogEvent:
    id: int
    timestamp: int
    ingestion_time: int
    message: str
    stream_name: str = ""

    @property
    def key(self) -> EventKey:
        return EventKey(self.timestamp, self.id)


@dataclass(frozen=True)
class AppendResult:
    """Outcome of one PutLogEvents: the new upload sequence and what was rejected."""

    sequence: int
    rejections: Rejections | None
    accepted: int


@dataclass(frozen=True)
class FilterPage:
    events: list[LogEvent]
    #: Where the next page starts, or ``None`` when the search is complete.
    next_key: EventKey | None
    searched_streams: list[str] = field(default_factory=list)


def _group(row: sqlite3.Row) -> LogGroup:
    return LogGroup(
        id=row["id"],
        region=row["region"],
        account_id=row["account"],
        name=row["name"],
        created_ms=row["created_ms"],
        retention_days=row["retention_days"],
        kms_key_id=row["kms_key_id"],
        log_group_class=row["log_group_class"],
        tags=json.loads(row["tags"]),
        stored_bytes=row["stored_bytes"],
    )


def _stream(row: sqlite3.Row) -> LogStream:
    return LogStream(
        id=row["id"],
        name=row["name"],
        created_ms=row["created_ms"],
        first_event_ms=row["first_event_ms"],
        last_event_ms=row["last_event_ms"],
        last_ingestion_ms=row["last_ingestion_ms"],
        upload_sequence=row["upload_sequence"],
    )


def _prefix_range(column: str, prefix: str | None, where: list[str], params: list[Any]) -> None:
    """Restrict ``column`` to ``prefix`` with a range the index can use."""
    if prefix:
        where.append(f"{column} >= ? AND {column} < ? AND substr({column}, 1, ?) = ?")
        params.extend([prefix, prefix + _MAX_CHAR, len(prefix), prefix])


def _find_group(conn: sqlite3.Connection, region: str, account: str, name: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM log_groups WHERE region = ? AND account = ? AND name = ?",
        (region, account, name),
    ).fetchone()
    if row is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return row


def _find_stream(conn: sqlite3.Connection, group_id: int, name: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM log_streams WHERE group_id = ? AND name = ?", (group_id, name)
    ).fetchone()
    if row is None:
        raise ResourceNotFoundException(STREAM_NOT_FOUND)
    return row


def _bytes_of(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> int:
    row = conn.execute(
        f"SELECT COALESCE(SUM(length(CAST(message AS BLOB))), 0) FROM log_events WHERE {where}",
        params,
    ).fetchone()
    return int(row[0])


class LogsStore:
    """Log groups, streams and events of every (region, account), in one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------- log groups

    async def create_group(
        self,
        region: str,
        account_id: str,
        name: str,
        *,
        kms_key_id: str | None = None,
        tags: dict[str, str] | None = None,
        log_group_class: str = "STANDARD",
    ) -> LogGroup:
        created = now_ms()
        tags_json = json.dumps(tags or {}, sort_keys=True)

        def job(conn: sqlite3.Connection) -> LogGroup:
            cursor = conn.execute(
                "INSERT INTO log_groups (region, account, name, created_ms, kms_key_id,"
                " log_group_class, tags) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (region, account, name) DO NOTHING",
                (region, account_id, name, created, kms_key_id, log_group_class, tags_json),
            )
            if cursor.rowcount == 0:
                raise ResourceAlreadyExistsException(GROUP_EXISTS)
            return _group(_find_group(conn, region, account_id, name))

        return await self.db.write(job)

    async def delete_group(self, region: str, account_id: str, name: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            group_id = _find_group(conn, region, account_id, name)["id"]
            conn.execute("DELETE FROM log_events WHERE group_id = ?", (group_id,))
            conn.execute("DELETE FROM log_streams WHERE group_id = ?", (group_id,))
            conn.execute("DELETE FROM log_groups WHERE id = ?", (group_id,))

        await self.db.write(job)

    async def get_group(self, region: str, account_id: str, name: str) -> LogGroup | None:
        row = await self.db.fetchone(
            "SELECT * FROM log_groups WHERE region = ? AND account = ? AND name = ?",
            (region, account_id, name),
        )
        return None if row is None else _group(row)

    async def list_groups(
        self,
        region: str,
        account_id: str,
        *,
        prefix: str | None = None,
        pattern: str | None = None,
        log_group_class: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[list[LogGroup], bool]:
        """Groups in name order after ``after``; the flag says whether more follow."""
        where = ["region = ?", "account = ?"]
        params: list[Any] = [region, account_id]
        _prefix_range("name", prefix, where, params)
        if pattern:
            where.append("instr(name, ?) > 0")
            params.append(pattern)
        if log_group_class:
            where.append("log_group_class = ?")
            params.append(log_group_class)
        if after is not None:
            where.append("name > ?")
            params.append(after)
        params.append(limit + 1)
        rows = await self.db.fetchall(
            f"SELECT * FROM log_groups WHERE {' AND '.join(where)} ORDER BY name LIMIT ?", params
        )
        groups = [_group(row) for row in rows]
        return groups[:limit], len(groups) > limit

    async def set_retention(
        self, region: str, account_id: str, name: str, days: int | None
    ) -> None:
        def job(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE log_groups SET retention_days = ? WHERE region = ? AND account = ? AND name = ?",
                (days, region, account_id, name),
            )
            if cursor.rowcount == 0:
                raise ResourceNotFoundException(GROUP_NOT_FOUND)

        await self.db.write(job)

    async def change_tags(
        self,
        region: str,
        account_id: str,
        name: str,
        *,
        add: dict[str, str] | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, str]:
        """Merge ``add``, drop ``remove``; refuse (unchanged) past ``MAX_TAGS`` tags."""

        def job(conn: sqlite3.Connection) -> dict[str, str]:
            row = _find_group(conn, region, account_id, name)
            tags: dict[str, str] = json.loads(row["tags"])
            tags.update(add or {})
            for key in remove:
                tags.pop(key, None)
            if len(tags) > MAX_TAGS:
                raise TooManyTagsException(
                    f"A resource can have no more than {MAX_TAGS} tags.",
                    fields={"resourceName": name},
                )
            conn.execute(
                "UPDATE log_groups SET tags = ? WHERE id = ?",
                (json.dumps(tags, sort_keys=True), row["id"]),
            )
            return tags

        return await self.db.write(job)

    # ------------------------------------------------------------ log streams

    async def create_stream(self, region: str, account_id: str, group: str, name: str) -> None:
        created = now_ms()

        def job(conn: sqlite3.Connection) -> None:
            group_id = _find_group(conn, region, account_id, group)["id"]
            cursor = conn.execute(
                "INSERT INTO log_streams (group_id, name, created_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (group_id, name) DO NOTHING",
                (group_id, name, created),
            )
            if cursor.rowcount == 0:
                raise ResourceAlreadyExistsException(STREAM_EXISTS)

        await self.db.write(job)

    async def delete_stream(self, region: str, account_id: str, group: str, name: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            group_id = _find_group(conn, region, account_id, group)["id"]
            stream_id = _find_stream(conn, group_id, name)["id"]
            where = "group_id = ? AND stream_id = ?"
            freed = _bytes_of(conn, where, (group_id, stream_id))
            conn.execute(f"DELETE FROM log_events WHERE {where}", (group_id, stream_id))
            conn.execute("DELETE FROM log_streams WHERE id = ?", (stream_id,))
            conn.execute(
                "UPDATE log_groups SET stored_bytes = MAX(0, stored_bytes - ?) WHERE id = ?",
                (freed, group_id),
            )

        await self.db.write(job)

    async def list_streams(
        self,
        region: str,
        account_id: str,
        group: str,
        *,
        prefix: str | None = None,
        by_last_event: bool = False,
        descending: bool = False,
        after: tuple[int, str] | str | None = None,
        limit: int = 50,
    ) -> tuple[list[LogStream], bool]:
        """Streams of ``group`` in the requested order after the key ``after``.

        The key is the stream name, or ``(last event ms or -1, name)`` when
        ordering by last event time.
        """
        direction = "DESC" if descending else "ASC"
        beyond = "<" if descending else ">"

        def query(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            group_id = _find_group(conn, region, account_id, group)["id"]
            where = ["group_id = ?"]
            params: list[Any] = [group_id]
            _prefix_range("name", prefix, where, params)
            if by_last_event:
                order = f"COALESCE(last_event_ms, -1) {direction}, name {direction}"
                if isinstance(after, tuple):
                    where.append(f"(COALESCE(last_event_ms, -1), name) {beyond} (?, ?)")
                    params.extend(after)
            else:
                order = f"name {direction}"
                if isinstance(after, str):
                    where.append(f"name {beyond} ?")
                    params.append(after)
            params.append(limit + 1)
            sql = f"SELECT * FROM log_streams WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
            return conn.execute(sql, params).fetchall()

        rows = await self.db.read(query)
        streams = [_stream(row) for row in rows]
        return streams[:limit], len(streams) > limit

    # ----------------------------------------------------------------- events

    async def put_events(
        self,
        region: str,
        account_id: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
    ) -> None:
        """Append ``events`` (timestamp ms, message), creating group and stream if missing.

        This is the path of the platform's own writers (Lambda's function
        logs): nothing is rejected, and everything happens in one write job.
        """
        await self.append_events(
            region, account_id, group, stream, events, create=True, check=False
        )

    async def append_events(
        self,
        region: str,
        account_id: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
        *,
        create: bool = False,
        check: bool = True,
    ) -> AppendResult:
        """Store a chronological batch.  With ``check`` too old/new events are
        rejected as PutLogEvents does; with ``create`` a missing group or
        stream is created instead of raising ``ResourceNotFoundException``."""
        ingestion = now_ms()

        def job(conn: sqlite3.Connection) -> AppendResult:
            group_row = self._group_for_append(conn, region, account_id, group, ingestion, create)
            stream_row = self._stream_for_append(conn, group_row["id"], stream, ingestion, create)
            rejections: Rejections | None = None
            accepted = events
            if check:
                rejections = classify(
                    [ts for ts, _ in events], ingestion, group_row["retention_days"]
                )
                accepted = events[rejections.first : rejections.stop]
            sequence = stream_row["upload_sequence"] + 1
            if accepted:
                self._insert(conn, group_row["id"], stream_row["id"], accepted, ingestion)
            conn.execute(
                "UPDATE log_streams SET upload_sequence = ? WHERE id = ?",
                (sequence, stream_row["id"]),
            )
            return AppendResult(sequence, rejections, len(accepted))

        return await self.db.write(job)

    @staticmethod
    def _group_for_append(
        conn: sqlite3.Connection, region: str, account: str, name: str, now: int, create: bool
    ) -> sqlite3.Row:
        if create:
            conn.execute(
                "INSERT INTO log_groups (region, account, name, created_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (region, account, name) DO NOTHING",
                (region, account, name, now),
            )
        return _find_group(conn, region, account, name)

    @staticmethod
    def _stream_for_append(
        conn: sqlite3.Connection, group_id: int, name: str, now: int, create: bool
    ) -> sqlite3.Row:
        if create:
            conn.execute(
                "INSERT INTO log_streams (group_id, name, created_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (group_id, name) DO NOTHING",
                (group_id, name, now),
            )
        return _find_stream(conn, group_id, name)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        group_id: int,
        stream_id: int,
        events: list[tuple[int, str]],
        ingestion: int,
    ) -> None:
        conn.executemany(
            "INSERT INTO log_events (group_id, stream_id, timestamp_ms, ingestion_ms, message)"
            " VALUES (?, ?, ?, ?, ?)",
            [(group_id, stream_id, ts, ingestion, message) for ts, message in events],
        )
        first = min(ts for ts, _ in events)
        last = max(ts for ts, _ in events)
        conn.execute(
            "UPDATE log_streams SET"
            " first_event_ms = CASE WHEN first_event_ms IS NULL OR first_event_ms > ?1"
            "   THEN ?1 ELSE first_event_ms END,"
            " last_event_ms = CASE WHEN last_event_ms IS NULL OR last_event_ms < ?2"
            "   THEN ?2 ELSE last_event_ms END,"
            " last_ingestion_ms = ?3"
            " WHERE id = ?4",
            (first, last, ingestion, stream_id),
        )
        size = sum(len(message.encode("utf-8")) for _, message in events)
        conn.execute(
            "UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id = ?", (size, group_id)
        )

    async def read_events(
        self,
        region: str,
        account_id: str,
        group: str,
        stream: str,
        *,
        start: int | None = None,
        end: int | None = None,
        after: EventKey | None = None,
        before: EventKey | None = None,
        from_head: bool = True,
        limit: int = 10_000,
        max_bytes: int | None = None,
    ) -> list[LogEvent]:
        """Events of one stream in ``[start, end)``, ascending.

        Reads forward from the head (or from just after ``after``), or, when
        ``from_head`` is false or ``before`` is given, the last ``limit``
        events before ``before`` (or before the tail).
        """
        forward = before is None and (from_head or after is not None)

        def query(conn: sqlite3.Connection) -> list[LogEvent]:
            group_id = _find_group(conn, region, account_id, group)["id"]
            stream_id = _find_stream(conn, group_id, stream)["id"]
            where = ["group_id = ?", "stream_id = ?"]
            params: list[Any] = [group_id, stream_id]
            if start is not None:
                where.append("timestamp_ms >= ?")
                params.append(start)
            if end is not None:
                where.append("timestamp_ms < ?")
                params.append(end)
            key = after if forward else before
            if key is not None:
                where.append(f"(timestamp_ms, id) {'>' if forward else '<'} (?, ?)")
                params.extend([key.timestamp, key.id])
            order = "ASC" if forward else "DESC"
            params.append(limit)
            cursor = conn.execute(
                "SELECT id, timestamp_ms, ingestion_ms, message FROM log_events"
                f" WHERE {' AND '.join(where)} ORDER BY timestamp_ms {order}, id {order} LIMIT ?",
                params,
            )
            events: list[LogEvent] = []
            size = 0
            for row in cursor:
                size += len(row["message"].encode("utf-8")) + 26
                if max_bytes is not None and events and size > max_bytes:
                    break
                events.append(
                    LogEvent(row["id"], row["timestamp_ms"], row["ingestion_ms"], row["message"])
                )
            return events if forward else events[::-1]

        return await self.db.read(query)

    async def filter_events(
        self,
        region: str,
        account_id: str,
        group: str,
        *,
        stream_names: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        start: int | None = None,
        end: int | None = None,
        after: EventKey | None = None,
        pattern: CompiledPattern = MATCH_ALL,
        limit: int = 10_000,
        max_bytes: int | None = None,
        scan_limit: int = FILTER_SCAN_LIMIT,
    ) -> FilterPage:
        """Matching events of a group in ``[start, end]``, interleaved in time order."""

        def query(conn: sqlite3.Connection) -> FilterPage:
            group_id = _find_group(conn, region, account_id, group)["id"]
            searched = self._searched_streams(conn, group_id, stream_names, stream_prefix)
            where = ["e.group_id = ?"]
            params: list[Any] = [group_id]
            if stream_names is not None:
                marks = ", ".join("?" for _ in stream_names)
                where.append(f"s.name IN ({marks})")
                params.extend(stream_names)
            _prefix_range("s.name", stream_prefix, where, params)
            if start is not None:
                where.append("e.timestamp_ms >= ?")
                params.append(start)
            if end is not None:
                where.append("e.timestamp_ms <= ?")
                params.append(end)
            if after is not None:
                where.append("(e.timestamp_ms, e.id) > (?, ?)")
                params.extend([after.timestamp, after.id])
            in_sql = pattern.sql is not None
            if pattern.sql is not None:
                # ``message`` is unambiguous: only log_events has such a column.
                where.append(pattern.sql)
                params.extend(pattern.params)
            sql = (
                "SELECT e.id, e.timestamp_ms, e.ingestion_ms, e.message, s.name AS stream"
                " FROM log_events AS e JOIN log_streams AS s ON s.id = e.stream_id"
                f" WHERE {' AND '.join(where)} ORDER BY e.timestamp_ms, e.id"
            )
            if in_sql:
                sql += " LIMIT ?"
                params.append(limit + 1)
            events: list[LogEvent] = []
            size = 0
            scanned = 0
            last_scanned: EventKey | None = None
            for row in conn.execute(sql, params):
                event = LogEvent(
                    row["id"],
                    row["timestamp_ms"],
                    row["ingestion_ms"],
                    row["message"],
                    row["stream"],
                )
                if not in_sql:
                    if scanned >= scan_limit:
                        return FilterPage(events, last_scanned, searched)
                    scanned += 1
                    last_scanned = event.key
                    if not pattern.matches(event.message):
                        continue
                size += len(event.message.encode("utf-8")) + 26
                full = len(events) >= limit or (
                    max_bytes is not None and events and size > max_bytes
                )
                if full:
                    return FilterPage(events, events[-1].key, searched)
                events.append(event)
            return FilterPage(events, None, searched)

        return await self.db.read(query)

    @staticmethod
    def _searched_streams(
        conn: sqlite3.Connection,
        group_id: int,
        names: Sequence[str] | None,
        prefix: str | None,
    ) -> list[str]:
        where = ["group_id = ?"]
        params: list[Any] = [group_id]
        if names is not None:
            where.append(f"name IN ({', '.join('?' for _ in names)})")
            params.extend(names)
        _prefix_range("name", prefix, where, params)
        params.append(SEARCHED_STREAMS_LIMIT)
        rows = conn.execute(
            f"SELECT name FROM log_streams WHERE {' AND '.join(where)} ORDER BY name LIMIT ?",
            params,
        ).fetchall()
        return [row["name"] for row in rows]

    # -------------------------------------------------------------- retention

    async def purge_expired(self, now: int | None = None) -> int:
        """Delete events older than their group's retention; return how many."""
        current = now_ms() if now is None else now

        def job(conn: sqlite3.Connection) -> int:
            deleted = 0
            groups = conn.execute(
                "SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL"
            ).fetchall()
            for row in groups:
                floor = current - row["retention_days"] * DAY_MS
                where = "group_id = ? AND timestamp_ms < ?"
                freed = _bytes_of(conn, where, (row["id"], floor))
                cursor = conn.execute(f"DELETE FROM log_events WHERE {where}", (row["id"], floor))
                if cursor.rowcount:
                    deleted += cursor.rowcount
                    conn.execute(
                        "UPDATE log_groups SET stored_bytes = MAX(0, stored_bytes - ?) WHERE id = ?",
                        (freed, row["id"]),
                    )
            return deleted

        return await self.db.write(job)
