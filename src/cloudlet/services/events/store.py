"""EventBridge state in SQLite: event buses, rules (with their timers), targets, the outbox.

Buses, rules and targets are few and read on every ``PutEvents``, so the
provider keeps them in memory (``Bus``/``Rule``); the functions here are the
writes, run inside ``Database.write`` jobs, that keep SQLite the source of
truth.  A scheduled rule's next firing time (``next_fire``, epoch seconds) is
stored with the rule so it survives restarts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cloudlet.events import outbox_migration
from cloudlet.services.events.patterns import Matcher, PatternError, compile_pattern
from cloudlet.storage import Migration

MIGRATIONS = [
    Migration(
        "events-1",
        """
        CREATE TABLE buses (
            arn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT,
            created REAL NOT NULL,
            tags TEXT NOT NULL
        );
        CREATE TABLE rules (
            arn TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            bus TEXT NOT NULL,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            tags TEXT NOT NULL,
            anchor REAL NOT NULL,
            next_fire REAL
        );
        CREATE TABLE targets (
            rule_arn TEXT NOT NULL,
            id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (rule_arn, id)
        );
        """,
    ),
    outbox_migration("outbox"),
]


@dataclass
class Bus:
    arn: str
    account: str
    region: str
    name: str
    description: str | None
    created: float
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Bus:
        return cls(
            row["arn"], row["account"], row["region"], row["name"], row["description"], row["created"],
            json.loads(row["tags"]),
        )


@dataclass
class Rule:
    arn: str
    account: str
    region: str
    bus: str
    name: str
    body: dict[str, Any]  # Name, EventPattern, ScheduleExpression, State, Description, RoleArn
    tags: dict[str, str]
    anchor: float
    next_fire: float | None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    matcher: Matcher | None = None

    def __post_init__(self) -> None:
        pattern = self.body.get("EventPattern")
        try:
            self.matcher = compile_pattern(json.loads(pattern)) if pattern else None
        except (PatternError, ValueError):  # stored by an older, laxer version: match nothing
            self.matcher = lambda event: False

    @property
    def enabled(self) -> bool:
        return self.body.get("State", "ENABLED") == "ENABLED"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Rule:
        return cls(
            row["arn"], row["account"], row["region"], row["bus"], row["name"], json.loads(row["body"]),
            json.loads(row["tags"]), row["anchor"], row["next_fire"],
        )


def save_bus(conn: sqlite3.Connection, bus: Bus) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO buses (arn, account, region, name, description, created, tags) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (bus.arn, bus.account, bus.region, bus.name, bus.description, bus.created, json.dumps(bus.tags)),
    )


def delete_bus(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM buses WHERE arn = ?", (arn,))


def save_rule(conn: sqlite3.Connection, rule: Rule) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO rules (arn, account, region, bus, name, body, tags, anchor, next_fire)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rule.arn, rule.account, rule.region, rule.bus, rule.name, json.dumps(rule.body),
            json.dumps(rule.tags), rule.anchor, rule.next_fire,
        ),
    )


def set_next_fire(conn: sqlite3.Connection, arn: str, next_fire: float | None) -> None:
    conn.execute("UPDATE rules SET next_fire = ? WHERE arn = ?", (next_fire, arn))


def delete_rule(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM rules WHERE arn = ?", (arn,))
    conn.execute("DELETE FROM targets WHERE rule_arn = ?", (arn,))


def save_targets(conn: sqlite3.Connection, rule_arn: str, targets: dict[str, dict[str, Any]]) -> None:
    conn.execute("DELETE FROM targets WHERE rule_arn = ?", (rule_arn,))
    conn.executemany(
        "INSERT INTO targets (rule_arn, id, seq, body) VALUES (?, ?, ?, ?)",
        [(rule_arn, tid, i, json.dumps(body)) for i, (tid, body) in enumerate(targets.items())],
    )
