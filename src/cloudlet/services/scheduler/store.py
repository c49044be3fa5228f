"""EventBridge Scheduler state in SQLite: schedule groups, schedules with their next firing, the outbox.

A schedule's definition is kept as the JSON of its API fields (``body``); its
next nominal time (``next_nominal``, what ``<aws.scheduler.scheduled-time>``
says) and the moment it will actually fire (``next_fire``, later by a random
part of a flexible time window) are epoch seconds, stored so the schedule
survives restarts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cloudlet.events import outbox_migration
from cloudlet.storage import Migration

MIGRATIONS = [
    Migration(
        "scheduler-1",
        """
        CREATE TABLE schedule_groups (
            arn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            created REAL NOT NULL,
            tags TEXT NOT NULL
        );
        CREATE TABLE schedules (
            arn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            grp TEXT NOT NULL,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            created REAL NOT NULL,
            modified REAL NOT NULL,
            next_nominal REAL,
            next_fire REAL
        );
        """,
    ),
    outbox_migration("outbox"),
]


@dataclass
class Group:
    arn: str
    account: str
    region: str
    name: str
    created: float
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Group:
        return cls(row["arn"], row["account"], row["region"], row["name"], row["created"], json.loads(row["tags"]))


@dataclass
class Schedule:
    arn: str
    account: str
    region: str
    group: str
    name: str
    body: dict[str, Any]
    created: float
    modified: float
    next_nominal: float | None = None
    next_fire: float | None = None

    @property
    def enabled(self) -> bool:
        return self.body.get("State", "ENABLED") == "ENABLED"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Schedule:
        return cls(
            row["arn"], row["account"], row["region"], row["grp"], row["name"], json.loads(row["body"]),
            row["created"], row["modified"], row["next_nominal"], row["next_fire"],
        )


def save_group(conn: sqlite3.Connection, group: Group) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO schedule_groups (arn, account, region, name, created, tags) VALUES (?, ?, ?, ?, ?, ?)",
        (group.arn, group.account, group.region, group.name, group.created, json.dumps(group.tags)),
    )


def delete_group(conn: sqlite3.Connection, group: Group) -> None:
    conn.execute("DELETE FROM schedule_groups WHERE arn = ?", (group.arn,))
    conn.execute(
        "DELETE FROM schedules WHERE account = ? AND region = ? AND grp = ?", (group.account, group.region, group.name)
    )


def save_schedule(conn: sqlite3.Connection, s: Schedule) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO schedules (arn, account, region, grp, name, body, created, modified, next_nominal, next_fire)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (s.arn, s.account, s.region, s.group, s.name, json.dumps(s.body), s.created, s.modified, s.next_nominal, s.next_fire),
    )


def set_next(conn: sqlite3.Connection, s: Schedule) -> None:
    conn.execute("UPDATE schedules SET next_nominal = ?, next_fire = ? WHERE arn = ?", (s.next_nominal, s.next_fire, s.arn))


def delete_schedule(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM schedules WHERE arn = ?", (arn,))
