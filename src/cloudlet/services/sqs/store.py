"""SQS state in SQLite: queues, messages, FIFO deduplication, move tasks.

Every function taking a ``conn`` runs inside a ``Database.write`` job (one
transaction), so a send is acknowledged only once it is committed, and a
receive's visibility change and DLQ move commit together.

Indexes keep the cost of the hot operations independent of queue depth:

* ``(queue_id, visible_at, id)`` — the next visible messages of a standard
  queue, the earliest future visibility (long-poll wake-up), the counts;
* ``(queue_id, id)`` — FIFO order;
* ``(queue_id, sent_at)`` — retention expiry;
* the primary key — delete / change visibility by receipt handle.

A message is *visible* when ``visible_at <= now``; *in flight* when it is not
visible and has been received (``receive_count > 0``); *delayed* when it is
not visible and has never been received.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cloudlet.services.sqs.attributes import redrive_policy
from cloudlet.services.sqs.errors import ReceiptHandleIsInvalid
from cloudlet.storage import Migration

MIGRATIONS = [
    Migration(
        "sqs-1",
        """
        CREATE TABLE queues (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            fifo INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            tags TEXT NOT NULL,
            created INTEGER NOT NULL,
            modified INTEGER NOT NULL,
            last_purge REAL NOT NULL DEFAULT 0,
            UNIQUE (account, region, name)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            queue_id INTEGER NOT NULL,
            message_id TEXT NOT NULL,
            body TEXT NOT NULL,
            attributes TEXT NOT NULL,
            system TEXT NOT NULL,
            md5_body TEXT NOT NULL,
            md5_attributes TEXT,
            sender_id TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            visible_at INTEGER NOT NULL,
            receive_count INTEGER NOT NULL DEFAULT 0,
            first_receive_at INTEGER,
            receipt TEXT,
            group_id TEXT,
            dedup_id TEXT,
            sequence_number TEXT
        );
        CREATE INDEX messages_visible ON messages (queue_id, visible_at, id);
        CREATE INDEX messages_order ON messages (queue_id, id);
        CREATE INDEX messages_sent ON messages (queue_id, sent_at);
        CREATE TABLE dedup (
            queue_id INTEGER NOT NULL,
            key TEXT NOT NULL,
            message_id TEXT NOT NULL,
            sequence_number TEXT,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (queue_id, key)
        );
        CREATE INDEX dedup_expiry ON dedup (expires_at);
        CREATE TABLE move_tasks (
            handle TEXT PRIMARY KEY,
            source_arn TEXT NOT NULL,
            destination_arn TEXT,
            rate INTEGER,
            status TEXT NOT NULL,
            moved INTEGER NOT NULL,
            to_move INTEGER NOT NULL,
            started INTEGER NOT NULL
        );
        """,
    )
]

DEDUP_WINDOW_MS = 5 * 60 * 1000
#: A message's visibility can be extended up to 12 hours after its first receive.
MAX_VISIBILITY_MS = 43200 * 1000


@dataclass
class Queue:
    """A queue as held in memory (the provider caches every queue)."""

    id: int
    account: str
    region: str
    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created: int = 0
    modified: int = 0
    last_purge: float = 0.0

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"

    def number(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def redrive(self) -> dict[str, Any] | None:
        text = self.attributes.get("RedrivePolicy")
        return redrive_policy(text) if text else None

    @property
    def content_dedup(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Queue:
        return cls(
            id=row["id"],
            account=row["account"],
            region=row["region"],
            name=row["name"],
            fifo=bool(row["fifo"]),
            attributes=json.loads(row["attributes"]),
            tags=json.loads(row["tags"]),
            created=row["created"],
            modified=row["modified"],
            last_purge=row["last_purge"],
        )


@dataclass
class NewMessage:
    """A validated message about to be stored."""

    message_id: str
    body: str
    attributes: dict[str, Any]
    system: dict[str, str]
    md5_body: str
    md5_attributes: str | None
    sender_id: str
    delay_ms: int
    group_id: str | None = None
    dedup_id: str | None = None
    dedup_key: str | None = None


@dataclass
class Sent:
    message_id: str
    sequence_number: str | None


# -- receipt handles ----------------------------------------------------------


def make_receipt(queue_id: int, row_id: int, token: str) -> str:
    raw = f"{queue_id}:{row_id}:{token}".encode()
    return base64.urlsafe_b64encode(b"CLQ1" + raw).decode()


def parse_receipt(handle: str) -> tuple[int, int, str]:
    """(queue id, row id, token) of a receipt handle; ``ReceiptHandleIsInvalid`` if malformed."""
    try:
        raw = base64.urlsafe_b64decode(handle.encode())
        if not raw.startswith(b"CLQ1"):
            raise ValueError(handle)
        queue_id, row_id, token = raw[4:].decode().split(":")
        return int(queue_id), int(row_id), token
    except (ValueError, binascii.Error, UnicodeError):
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        ) from None


# -- queues -------------------------------------------------------------------


def insert_queue(conn: sqlite3.Connection, queue: Queue) -> int:
    cursor = conn.execute(
        "INSERT INTO queues (account, region, name, fifo, attributes, tags, created, modified) VALUES (?,?,?,?,?,?,?,?)",
        (
            queue.account,
            queue.region,
            queue.name,
            int(queue.fifo),
            json.dumps(queue.attributes),
            json.dumps(queue.tags),
            queue.created,
            queue.modified,
        ),
    )
    return int(cursor.lastrowid or 0)


def update_queue(conn: sqlite3.Connection, queue: Queue) -> None:
    conn.execute(
        "UPDATE queues SET attributes = ?, tags = ?, modified = ?, last_purge = ? WHERE id = ?",
        (
            json.dumps(queue.attributes),
            json.dumps(queue.tags),
            queue.modified,
            queue.last_purge,
            queue.id,
        ),
    )


def delete_queue(conn: sqlite3.Connection, queue_id: int) -> None:
    conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue_id,))
    conn.execute("DELETE FROM dedup WHERE queue_id = ?", (queue_id,))
    conn.execute("DELETE FROM queues WHERE id = ?", (queue_id,))


def purge(conn: sqlite3.Connection, queue: Queue) -> None:
    conn.execute("DELETE FROM messages WHERE queue_id = ?", (queue.id,))
    update_queue(conn, queue)


# -- messages -----------------------------------------------------------------


def insert_messages(
    conn: sqlite3.Connection, queue: Queue, messages: list[NewMessage], now: int
) -> list[Sent]:
    """Store messages (FIFO duplicates inside the window are acknowledged, not stored again)."""
    sent: list[Sent] = []
    for message in messages:
        if message.dedup_key is not None:
            row = conn.execute(
                "SELECT message_id, sequence_number FROM dedup WHERE queue_id = ? AND key = ? AND expires_at > ?",
                (queue.id, message.dedup_key, now),
            ).fetchone()
            if row is not None:
                sent.append(Sent(row["message_id"], row["sequence_number"]))
                continue
        cursor = conn.execute(
            "INSERT INTO messages (queue_id, message_id, body, attributes, system, md5_body, md5_attributes, "
            "sender_id, sent_at, visible_at, group_id, dedup_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                queue.id,
                message.message_id,
                message.body,
                json.dumps(message.attributes),
                json.dumps(message.system),
                message.md5_body,
                message.md5_attributes,
                message.sender_id,
                now,
                now + message.delay_ms,
                message.group_id,
                message.dedup_id,
            ),
        )
        sequence = None
        if queue.fifo:
            sequence = f"{18000000000000000000 + int(cursor.lastrowid or 0)}"
            conn.execute(
                "UPDATE messages SET sequence_number = ? WHERE id = ?", (sequence, cursor.lastrowid)
            )
        if message.dedup_key is not None:
            conn.execute(
                "INSERT OR REPLACE INTO dedup (queue_id, key, message_id, sequence_number, expires_at) VALUES (?,?,?,?,?)",
                (queue.id, message.dedup_key, message.message_id, sequence, now + DEDUP_WINDOW_MS),
            )
        sent.append(Sent(message.message_id, sequence))
    return sent


def expire(conn: sqlite3.Connection, queue: Queue, now: int) -> int:
    cutoff = now - queue.number("MessageRetentionPeriod") * 1000
    return conn.execute(
        "DELETE FROM messages WHERE queue_id = ? AND sent_at < ?", (queue.id, cutoff)
    ).rowcount


def _candidates(
    conn: sqlite3.Connection, queue: Queue, now: int, limit: int, skip: set[int]
) -> list[sqlite3.Row]:
    if not queue.fifo:
        return conn.execute(
            "SELECT * FROM messages INDEXED BY messages_visible WHERE queue_id = ? AND visible_at <= ? "
            "ORDER BY visible_at, id LIMIT ?",
            (queue.id, now, limit + len(skip)),
        ).fetchall()
    # FIFO: a group whose oldest message is in flight (or delayed) is blocked as a whole.  Rows of
    # blocked groups are skipped inside SQLite, in id order, a page at a time.
    blocked = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT group_id FROM messages INDEXED BY messages_visible "
            "WHERE queue_id = ? AND visible_at > ? AND receive_count > 0",
            (queue.id, now),
        )
    }
    wanted = limit + len(skip)
    rows: list[sqlite3.Row] = []
    after = 0
    while len(rows) < wanted:
        excluded = sorted(blocked)
        marks = ",".join("?" * len(excluded))
        page = conn.execute(
            "SELECT * FROM messages INDEXED BY messages_order WHERE queue_id = ? AND id > ? "
            + (f"AND group_id NOT IN ({marks}) " if excluded else "")
            + "ORDER BY id LIMIT ?",
            (queue.id, after, *excluded, max(wanted, 16)),
        ).fetchall()
        if not page:
            break
        for row in page:
            after = row["id"]
            if row["group_id"] in blocked:
                continue
            if row["visible_at"] > now:
                blocked.add(row["group_id"])
                continue
            rows.append(row)
            if len(rows) >= wanted:
                break
    return rows


def receive(
    conn: sqlite3.Connection,
    queue: Queue,
    dead_letter: Queue | None,
    limit: int,
    visibility_ms: int,
    now: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Take up to ``limit`` visible messages, making them invisible; move over-received ones to the DLQ.

    Returns (received rows with their new receipt handle, whether anything moved to the DLQ).
    """
    expire(conn, queue, now)
    policy = queue.redrive if dead_letter is not None else None
    max_receives = int(policy["maxReceiveCount"]) if policy else 0
    taken: list[dict[str, Any]] = []
    seen: set[int] = set()
    moved = False
    while len(taken) < limit:
        rows = [
            r
            for r in _candidates(conn, queue, now, limit - len(taken), seen)
            if r["id"] not in seen
        ]
        if not rows:
            break
        moved_now = False
        for row in rows:
            if len(taken) >= limit:
                break
            seen.add(row["id"])
            if dead_letter is not None and max_receives and row["receive_count"] >= max_receives:
                _move(conn, row, dead_letter, queue.arn, now)
                moved = moved_now = True
                continue
            token = secrets.token_hex(8)
            first = row["first_receive_at"] or now
            conn.execute(
                "UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, first_receive_at = ?, receipt = ? "
                "WHERE id = ?",
                (now + visibility_ms, first, token, row["id"]),
            )
            message = dict(row)
            message["receive_count"] += 1
            message["first_receive_at"] = first
            message["receipt_handle"] = make_receipt(queue.id, row["id"], token)
            taken.append(message)
        if not moved_now:
            break
    return taken, moved


def _move(
    conn: sqlite3.Connection, row: sqlite3.Row, target: Queue, source_arn: str, now: int
) -> None:
    system = json.loads(row["system"])
    system["DeadLetterQueueSourceArn"] = source_arn
    conn.execute("DELETE FROM messages WHERE id = ?", (row["id"],))
    copy_message(conn, row, target, system, now)


def copy_message(
    conn: sqlite3.Connection, row: sqlite3.Row, target: Queue, system: dict[str, str], now: int
) -> None:
    """A fresh (never received) copy of a message in ``target``, keeping id, body, attributes and send time."""
    cursor = conn.execute(
        "INSERT INTO messages (queue_id, message_id, body, attributes, system, md5_body, md5_attributes, sender_id, "
        "sent_at, visible_at, group_id, dedup_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            target.id,
            row["message_id"],
            row["body"],
            row["attributes"],
            json.dumps(system),
            row["md5_body"],
            row["md5_attributes"],
            row["sender_id"],
            row["sent_at"] if not target.fifo else now,
            now,
            row["group_id"] if target.fifo else None,
            row["dedup_id"] if target.fifo else None,
        ),
    )
    if target.fifo:
        sequence = f"{18000000000000000000 + int(cursor.lastrowid or 0)}"
        conn.execute(
            "UPDATE messages SET sequence_number = ?, group_id = COALESCE(group_id, ?) WHERE id = ?",
            (sequence, row["message_id"], cursor.lastrowid),
        )


def delete_message(conn: sqlite3.Connection, queue_id: int, row_id: int, token: str) -> None:
    """Delete if the handle is the latest one; an outdated handle deletes nothing (as on AWS)."""
    conn.execute(
        "DELETE FROM messages WHERE id = ? AND queue_id = ? AND receipt = ?",
        (row_id, queue_id, token),
    )


def change_visibility(
    conn: sqlite3.Connection, queue_id: int, row_id: int, token: str, visibility_ms: int, now: int
) -> str:
    """``ok``, ``missing`` (gone or outdated handle), ``not-inflight`` or ``too-long`` (> 12 h from first receive)."""
    row = conn.execute(
        "SELECT visible_at, receive_count, receipt, first_receive_at FROM messages WHERE id = ? AND queue_id = ?",
        (row_id, queue_id),
    ).fetchone()
    if row is None or row["receipt"] != token:
        return "missing"
    if row["visible_at"] <= now or row["receive_count"] == 0:
        return "not-inflight"
    if now + visibility_ms - (row["first_receive_at"] or now) > MAX_VISIBILITY_MS:
        return "too-long"
    conn.execute("UPDATE messages SET visible_at = ? WHERE id = ?", (now + visibility_ms, row_id))
    return "ok"


def counts(conn: sqlite3.Connection, queue_id: int, now: int) -> tuple[int, int, int]:
    """(visible, in flight, delayed)."""
    visible = conn.execute(
        "SELECT COUNT(*) FROM messages INDEXED BY messages_visible WHERE queue_id = ? AND visible_at <= ?",
        (queue_id, now),
    ).fetchone()[0]
    row = conn.execute(
        "SELECT SUM(receive_count > 0), SUM(receive_count = 0) FROM messages INDEXED BY messages_visible "
        "WHERE queue_id = ? AND visible_at > ?",
        (queue_id, now),
    ).fetchone()
    return int(visible), int(row[0] or 0), int(row[1] or 0)


def next_visible(conn: sqlite3.Connection, queue_id: int, now: int) -> int | None:
    row = conn.execute(
        "SELECT MIN(visible_at) FROM messages INDEXED BY messages_visible WHERE queue_id = ? AND visible_at > ?",
        (queue_id, now),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def sweep(conn: sqlite3.Connection, *, queues: list[Queue], now: int) -> None:
    """Drop expired messages of every queue and expired deduplication entries."""
    for queue in queues:
        expire(conn, queue, now)
    conn.execute("DELETE FROM dedup WHERE expires_at <= ?", (now,))


def move_messages(
    conn: sqlite3.Connection,
    source: Queue,
    targets: dict[str, Queue],
    default: Queue | None,
    now: int,
) -> int:
    """Move every message of ``source`` (a DLQ) to ``default`` or back to its ``DeadLetterQueueSourceArn``."""
    moved = 0
    for row in conn.execute(
        "SELECT * FROM messages WHERE queue_id = ? ORDER BY id", (source.id,)
    ).fetchall():
        system = json.loads(row["system"])
        target = default or targets.get(system.get("DeadLetterQueueSourceArn", ""))
        if target is None:
            continue
        system.pop("DeadLetterQueueSourceArn", None)
        conn.execute("DELETE FROM messages WHERE id = ?", (row["id"],))
        copy_message(conn, row, target, system, now)
        moved += 1
    return moved
