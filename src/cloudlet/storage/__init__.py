"""Durable storage: SQLite databases (one writer thread, reader pool, migrations) and blob files."""

from cloudlet.storage.blobs import BlobStore, InvalidBlobKey
from cloudlet.storage.sqlite import (
    Database,
    DatabaseClosedError,
    DatabaseStatistics,
    Migration,
)

__all__ = [
    "BlobStore",
    "Database",
    "DatabaseClosedError",
    "DatabaseStatistics",
    "InvalidBlobKey",
    "Migration",
]
