"""The S3 provider: the operation mixins assembled, plus start-up recovery and background tasks."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from cloudlet.edge.credentials import CredentialStore
from cloudlet.events import Outbox
from cloudlet.services.s3.buckets import BucketsMixin
from cloudlet.services.s3.config import ConfigMixin
from cloudlet.services.s3.cors import CorsMixin
from cloudlet.services.s3.extras import ExtrasMixin
from cloudlet.services.s3.files import FileStore
from cloudlet.services.s3.lifecycle import LifecycleMixin
from cloudlet.services.s3.list_ops import ListingMixin
from cloudlet.services.s3.multipart import MultipartMixin
from cloudlet.services.s3.notifications import NotificationsMixin
from cloudlet.services.s3.post import KeyStore, PostObjectMixin
from cloudlet.storage import Database

log = logging.getLogger(__name__)


class S3Provider(
    NotificationsMixin,
    LifecycleMixin,
    MultipartMixin,
    PostObjectMixin,
    ListingMixin,
    ExtrasMixin,
    ConfigMixin,
    CorsMixin,
    BucketsMixin,
):
    """Amazon S3 on SQLite metadata and plain files."""

    def __init__(
        self,
        db: Database,
        root: Path,
        *,
        hub: Any = None,
        default_region: str = "us-east-1",
        fsync: bool = False,
        lifecycle_interval_s: float = 3600.0,
        day_s: float = 86400.0,
        retry_delays: tuple[float, ...] = (0.2, 1.0, 5.0, 30.0, 120.0),
        credentials: KeyStore | None = None,
    ) -> None:
        super().__init__(db, FileStore(root, fsync=fsync), default_region)
        self.hub = hub
        # POST Object verifies its form's signature itself (the edge cannot: the
        # signature covers the policy inside the body, not the request).
        self.credentials = credentials if credentials is not None else CredentialStore()
        self.lifecycle_interval_s = lifecycle_interval_s
        self.day_s = day_s
        self.outbox = Outbox(db, self.deliver, retry_delays=retry_delays, on_give_up=self.give_up)

    async def start(self) -> None:
        await self.recover()
        if self.outbox is not None:
            await self.outbox.start()
        await self.start_lifecycle()

    async def stop(self) -> None:
        await self.stop_lifecycle()
        if self.outbox is not None:
            await self.outbox.stop()

    async def recover(self) -> None:
        """Drop temp files of interrupted writes and blobs no committed row names."""

        def sweep(conn: sqlite3.Connection) -> int:
            # Small bodies live in their row (bytes): only text values name files.  UNION
            # sorts in SQLite (spilling to a temp file if large), never in Python.
            rows = conn.execute(
                "SELECT blob FROM objects WHERE typeof(blob) = 'text' "
                "UNION SELECT blob FROM parts WHERE typeof(blob) = 'text' ORDER BY 1"
            )
            return self.files.sweep(row[0] for row in rows)

        removed = await self.db.read(sweep)
        if removed:
            log.info("s3: removed %d unreferenced blob files", removed)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def create_provider(hub: Any) -> S3Provider:
    from cloudlet.services.s3.schema import MIGRATIONS

    return S3Provider(
        hub.database("s3", MIGRATIONS),
        hub.root / "s3",
        hub=hub,
        default_region=hub.settings.region,
        fsync=hub.settings.fsync,
        lifecycle_interval_s=_env_float("CLOUDLET_S3_LIFECYCLE_INTERVAL", 3600.0),
        day_s=_env_float("CLOUDLET_S3_DAY_SECONDS", 86400.0),
        credentials=hub.credentials,
    )
