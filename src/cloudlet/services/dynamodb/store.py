"""SQLite layout of DynamoDB tables, indexes and streams, and the one write path.

Items live in ``items(tid, h, r)`` — ``h``/``r`` are the order-preserving
encodings of the hash and range key (see ``types.encode_key``) — so GetItem is
a primary-key look-up and Query is a range scan of the clustered index
(``WITHOUT ROWID``).  Secondary index entries live in ``index_items(tid, idx,
ih, ir, h, r)`` holding the projected item, and are maintained by
``apply_change`` in the same transaction as the item; so are the table's
counters (ItemCount, TableSizeBytes) and its stream record.

Every function here is synchronous and runs inside a ``Database.write`` job
(or ``read``); the writer thread serializes them, which is what makes a
condition check followed by a write atomic.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudlet.services.dynamodb.schema import TableDef, segment_of
from cloudlet.services.dynamodb.types import Item, dump_item, item_size, load_item
from cloudlet.storage import Migration

MIGRATIONS = [
    Migration(
        "0001_dynamodb",
        """
        CREATE TABLE tables (
            tid INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            meta TEXT NOT NULL,
            item_count INTEGER NOT NULL DEFAULT 0,
            size_bytes INTEGER NOT NULL DEFAULT 0,
            UNIQUE (account, region, name)
        );
        CREATE TABLE items (
            tid INTEGER NOT NULL,
            h BLOB NOT NULL,
            r BLOB NOT NULL,
            seg INTEGER NOT NULL,
            size INTEGER NOT NULL,
            expires REAL,
            item TEXT NOT NULL,
            PRIMARY KEY (tid, h, r)
        ) WITHOUT ROWID;
        CREATE INDEX items_expires ON items (expires) WHERE expires IS NOT NULL;
        CREATE TABLE index_items (
            tid INTEGER NOT NULL,
            idx TEXT NOT NULL,
            ih BLOB NOT NULL,
            ir BLOB NOT NULL,
            h BLOB NOT NULL,
            r BLOB NOT NULL,
            seg INTEGER NOT NULL,
            size INTEGER NOT NULL,
            item TEXT NOT NULL,
            PRIMARY KEY (tid, idx, ih, ir, h, r)
        ) WITHOUT ROWID;
        CREATE TABLE streams (
            arn TEXT PRIMARY KEY,
            tid INTEGER NOT NULL,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            table_name TEXT NOT NULL,
            label TEXT NOT NULL,
            view_type TEXT NOT NULL,
            key_schema TEXT NOT NULL,
            created REAL NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE stream_records (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arn TEXT NOT NULL,
            created REAL NOT NULL,
            record TEXT NOT NULL
        );
        CREATE INDEX stream_records_arn ON stream_records (arn, seq);
        CREATE INDEX stream_records_created ON stream_records (created);
        CREATE TABLE tx_tokens (
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            token TEXT NOT NULL,
            digest TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (account, region, token)
        );
        """,
    ),
]

#: ``userIdentity`` of a TTL deletion as the Streams API spells it (Lambda events use ``type``/``principalId``).
TTL_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


def read_item(conn: sqlite3.Connection, tid: int, h: bytes, r: bytes) -> Item | None:
    row = conn.execute("SELECT item FROM items WHERE tid = ? AND h = ? AND r = ?", (tid, h, r)).fetchone()
    return load_item(row[0]) if row else None


def expires_of(table: TableDef, item: Item) -> float | None:
    name = table.ttl_attribute
    value = item.get(name) if name else None
    if value is None or "N" not in value:
        return None
    try:
        return float(Decimal(value["N"]))
    except (InvalidOperation, ValueError):
        return None


def apply_change(
    conn: sqlite3.Connection,
    table: TableDef,
    h: bytes,
    r: bytes,
    old: Item | None,
    new: Item | None,
    *,
    user_identity: dict[str, str] | None = None,
) -> None:
    """Replace (or delete, ``new=None``) one item with its indexes, counters and stream record."""
    if old is None and new is None:
        return
    seg = segment_of(h)
    old_size = item_size(old) if old is not None else 0
    new_size = item_size(new) if new is not None else 0
    if new is None:
        conn.execute("DELETE FROM items WHERE tid = ? AND h = ? AND r = ?", (table.tid, h, r))
    else:
        conn.execute(
            "INSERT OR REPLACE INTO items (tid, h, r, seg, size, expires, item) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (table.tid, h, r, seg, new_size, expires_of(table, new), dump_item(new)),
        )
    count_delta = (new is not None) - (old is not None)
    conn.execute(
        "UPDATE tables SET item_count = item_count + ?, size_bytes = size_bytes + ? WHERE tid = ?",
        (count_delta, new_size - old_size, table.tid),
    )
    for index in table.indexes.values():
        old_key = table.index_key(index, old) if old is not None else None
        new_key = table.index_key(index, new) if new is not None else None
        if old_key is not None:
            conn.execute(
                "DELETE FROM index_items WHERE tid = ? AND idx = ? AND ih = ? AND ir = ? AND h = ? AND r = ?",
                (table.tid, index.name, old_key[0], old_key[1], h, r),
            )
        if new_key is not None and new is not None:
            projected = index.project(new, table)
            conn.execute(
                "INSERT OR REPLACE INTO index_items (tid, idx, ih, ir, h, r, seg, size, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (table.tid, index.name, new_key[0], new_key[1], h, r, segment_of(new_key[0]), item_size(projected), dump_item(projected)),
            )
    view = table.stream_view_type
    if view is not None and old != new:
        write_stream_record(conn, table, view, old, new, user_identity)


def write_stream_record(
    conn: sqlite3.Connection,
    table: TableDef,
    view: str,
    old: Item | None,
    new: Item | None,
    user_identity: dict[str, str] | None,
) -> None:
    arn = table.meta.get("LatestStreamArn")
    if not arn:
        return
    now = time.time()
    source = new if new is not None else old
    assert source is not None
    record_data: dict[str, Any] = {
        "ApproximateCreationDateTime": int(now),
        "Keys": table.key_of(source),
        "StreamViewType": view,
    }
    if new is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        record_data["NewImage"] = new
    if old is not None and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        record_data["OldImage"] = old
    size = item_size(record_data["Keys"]) + item_size(record_data.get("NewImage") or {}) + item_size(record_data.get("OldImage") or {})
    record_data["SizeBytes"] = size
    record: dict[str, Any] = {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": table.region,
        "dynamodb": record_data,
    }
    if user_identity is not None:
        record["userIdentity"] = user_identity
    conn.execute(
        "INSERT INTO stream_records (arn, created, record) VALUES (?, ?, ?)",
        (arn, now, json.dumps(_jsonable(record), separators=(",", ":"))),
    )


def _jsonable(record: dict[str, Any]) -> Any:
    # Images may hold bytes: reuse the item storage encoding.
    return json.loads(dump_item(record))


def load_record(text: str) -> dict[str, Any]:
    return load_item(text)


def format_sequence(seq: int) -> str:
    return f"{seq:021d}"


def update_meta(conn: sqlite3.Connection, table: TableDef) -> None:
    conn.execute("UPDATE tables SET meta = ? WHERE tid = ?", (json.dumps(table.meta), table.tid))


def backfill_index(conn: sqlite3.Connection, table: TableDef, index_name: str) -> None:
    index = table.indexes[index_name]
    rows = conn.execute("SELECT h, r, item FROM items WHERE tid = ?", (table.tid,)).fetchall()
    for h, r, text in rows:
        item = load_item(text)
        key = table.index_key(index, item)
        if key is None:
            continue
        projected = index.project(item, table)
        conn.execute(
            "INSERT OR REPLACE INTO index_items (tid, idx, ih, ir, h, r, seg, size, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (table.tid, index.name, key[0], key[1], h, r, segment_of(key[0]), item_size(projected), dump_item(projected)),
        )


def recompute_expires(conn: sqlite3.Connection, table: TableDef) -> None:
    rows = conn.execute("SELECT h, r, item FROM items WHERE tid = ?", (table.tid,)).fetchall()
    for h, r, text in rows:
        conn.execute(
            "UPDATE items SET expires = ? WHERE tid = ? AND h = ? AND r = ?",
            (expires_of(table, load_item(text)), table.tid, h, r),
        )


def drop_table_rows(conn: sqlite3.Connection, tid: int) -> None:
    conn.execute("DELETE FROM items WHERE tid = ?", (tid,))
    conn.execute("DELETE FROM index_items WHERE tid = ?", (tid,))
    conn.execute("DELETE FROM tables WHERE tid = ?", (tid,))
