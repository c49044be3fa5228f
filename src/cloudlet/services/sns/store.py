"""SNS state in SQLite: topics, subscriptions, FIFO deduplication, and the delivery outbox.

Topics and subscriptions are few and read on every publish, so the provider
caches them in memory; these functions are the writes (run inside
``Database.write`` jobs) that keep the database the source of truth.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from cloudlet.events import outbox_migration
from cloudlet.storage import Migration

MIGRATIONS = [
    Migration(
        "sns-1",
        """
        CREATE TABLE topics (
            arn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            fifo INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            tags TEXT NOT NULL
        );
        CREATE TABLE subscriptions (
            arn TEXT PRIMARY KEY,
            topic_arn TEXT NOT NULL,
            owner TEXT NOT NULL,
            protocol TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            attributes TEXT NOT NULL,
            confirmed INTEGER NOT NULL,
            token TEXT
        );
        CREATE INDEX subscriptions_topic ON subscriptions (topic_arn);
        CREATE INDEX subscriptions_token ON subscriptions (token);
        CREATE TABLE dedup (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            topic_arn TEXT NOT NULL,
            key TEXT NOT NULL,
            message_id TEXT NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX dedup_key ON dedup (topic_arn, key);
        CREATE INDEX dedup_expiry ON dedup (expires_at);
        """,
    ),
    outbox_migration("outbox"),
    # FIFO topics deliver through their own outbox, one event at a time, to keep each group's order.
    outbox_migration("outbox_fifo"),
]

DEDUP_WINDOW_S = 300.0


@dataclass
class Topic:
    arn: str
    account: str
    region: str
    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Topic:
        return cls(
            arn=row["arn"],
            account=row["account"],
            region=row["region"],
            name=row["name"],
            fifo=bool(row["fifo"]),
            attributes=json.loads(row["attributes"]),
            tags=json.loads(row["tags"]),
        )


@dataclass
class Subscription:
    arn: str
    topic_arn: str
    owner: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    confirmed: bool
    token: str | None = None

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Subscription:
        return cls(
            arn=row["arn"],
            topic_arn=row["topic_arn"],
            owner=row["owner"],
            protocol=row["protocol"],
            endpoint=row["endpoint"],
            attributes=json.loads(row["attributes"]),
            confirmed=bool(row["confirmed"]),
            token=row["token"],
        )


def save_topic(conn: sqlite3.Connection, topic: Topic) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO topics (arn, account, region, name, fifo, attributes, tags) VALUES (?,?,?,?,?,?,?)",
        (
            topic.arn,
            topic.account,
            topic.region,
            topic.name,
            int(topic.fifo),
            json.dumps(topic.attributes),
            json.dumps(topic.tags),
        ),
    )


def delete_topic(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM subscriptions WHERE topic_arn = ?", (arn,))
    conn.execute("DELETE FROM dedup WHERE topic_arn = ?", (arn,))
    conn.execute("DELETE FROM topics WHERE arn = ?", (arn,))


def save_subscription(conn: sqlite3.Connection, sub: Subscription) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO subscriptions (arn, topic_arn, owner, protocol, endpoint, attributes, confirmed, token) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (
            sub.arn,
            sub.topic_arn,
            sub.owner,
            sub.protocol,
            sub.endpoint,
            json.dumps(sub.attributes),
            int(sub.confirmed),
            sub.token,
        ),
    )


def delete_subscription(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM subscriptions WHERE arn = ?", (arn,))


def deduplicate(
    conn: sqlite3.Connection, topic_arn: str, key: str, message_id: str, now: float
) -> tuple[str, int, bool]:
    """(message id, sequence number, duplicate?) of a FIFO publish with dedup ``key``."""
    conn.execute("DELETE FROM dedup WHERE expires_at <= ?", (now,))
    row = conn.execute(
        "SELECT message_id, seq FROM dedup WHERE topic_arn = ? AND key = ?", (topic_arn, key)
    ).fetchone()
    if row is not None:
        return row["message_id"], int(row["seq"]), True
    cursor = conn.execute(
        "INSERT INTO dedup (topic_arn, key, message_id, expires_at) VALUES (?,?,?,?)",
        (topic_arn, key, message_id, now + DEDUP_WINDOW_S),
    )
    return message_id, int(cursor.lastrowid or 0), False
