"""A small durable document store for API Gateway configuration (v1 and v2).

API configuration is small and read on every data-plane request, so it lives
in memory and is written through to SQLite: every resource (an API, a route,
a stage …) is one JSON document in the ``docs`` table, keyed by
``(kind, id)`` with the id of its parent API.  ``load()`` reads everything at
start-up; each change is committed before it is applied to memory, so an
acknowledged change survives a crash.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
from dataclasses import dataclass
from typing import Any

from cloudlet.storage import Database, Migration


def docs_migration(name: str) -> Migration:
    return Migration(
        name,
        """
        CREATE TABLE docs (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            parent TEXT NOT NULL,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY (kind, id)
        );
        CREATE INDEX docs_parent ON docs (parent, kind);
        """,
    )


_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 10) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


@dataclass
class Doc:
    kind: str
    id: str
    parent: str
    region: str
    account: str
    body: dict[str, Any]


class DocStore:
    """Documents in memory, written through to ``docs``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._docs: dict[tuple[str, str], Doc] = {}
        self._children: dict[str, dict[tuple[str, str], Doc]] = {}
        #: Bumped on every change; data planes key their compiled caches on it.
        self.version = 0

    async def load(self) -> None:
        rows = await self.db.fetchall("SELECT kind, id, parent, region, account, doc FROM docs", ())
        self._docs.clear()
        self._children.clear()
        for row in rows:
            self._remember(Doc(row["kind"], row["id"], row["parent"], row["region"], row["account"], json.loads(row["doc"])))
        self.version += 1

    def _remember(self, doc: Doc) -> None:
        self._docs[(doc.kind, doc.id)] = doc
        self._children.setdefault(doc.parent, {})[(doc.kind, doc.id)] = doc

    def get(self, kind: str, doc_id: str) -> Doc | None:
        return self._docs.get((kind, doc_id))

    def children(self, parent: str, kind: str) -> list[Doc]:
        return [d for (k, _), d in self._children.get(parent, {}).items() if k == kind]

    def all(self, kind: str, region: str, account: str) -> list[Doc]:
        return [d for (k, _), d in self._docs.items() if k == kind and d.region == region and d.account == account]

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for (k, _), d in self._docs.items() if k == kind]

    def exists(self, doc_id: str) -> bool:
        return any(i == doc_id for (_, i) in self._docs)

    async def put(self, doc: Doc) -> Doc:
        text = json.dumps(doc.body, separators=(",", ":"), default=str)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO docs (kind, id, parent, region, account, doc) VALUES (?, ?, ?, ?, ?, ?)",
                (doc.kind, doc.id, doc.parent, doc.region, doc.account, text),
            )

        await self.db.write(write)
        self._remember(doc)
        self.version += 1
        return doc

    async def delete(self, kind: str, doc_id: str, *, cascade: bool = True) -> None:
        """Delete a document and (with ``cascade``) everything below it."""
        doomed: list[Doc] = []
        stack = [(kind, doc_id)]
        while stack:
            key = stack.pop()
            doc = self._docs.get(key)
            if doc is None:
                continue
            doomed.append(doc)
            if cascade:
                stack.extend(self._children.get(doc.id, {}).keys())

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM docs WHERE kind = ? AND id = ?", [(d.kind, d.id) for d in doomed])

        await self.db.write(write)
        for doc in doomed:
            self._docs.pop((doc.kind, doc.id), None)
            self._children.get(doc.parent, {}).pop((doc.kind, doc.id), None)
            if cascade:
                self._children.pop(doc.id, None)
        self.version += 1
