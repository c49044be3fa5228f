"""The assembled back end of one server: storage, engine and every provider.

The hub owns the lifecycle of everything below the edge: it opens one SQLite
database per service under the data directory, starts the execution engine,
builds the providers and starts them, and stops all of it in reverse order.
The edge only ever sees ``providers`` (service name → provider object).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cloudlet.config import Settings
from cloudlet.engine import Engine
from cloudlet.services.lambda_ import MIGRATIONS as LAMBDA_MIGRATIONS
from cloudlet.services.lambda_ import LambdaProvider
from cloudlet.services.logs import MIGRATIONS as LOGS_MIGRATIONS
from cloudlet.services.logs import LogsProvider, LogsStore
from cloudlet.storage import BlobStore, Database

log = logging.getLogger(__name__)

#: Services whose wire protocol the edge speaks.  A service listed here
#: without a provider answers 501 for each of its operations.
ROUTED_SERVICES = ("lambda", "logs", "s3", "sqs", "sns", "dynamodb")


class ServiceHub:
    """Storage, engine and providers of one server, with one start/stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.logs_db = Database(root / "logs.db", LOGS_MIGRATIONS, fsync=settings.fsync)
        self.lambda_db = Database(root / "lambda.db", LAMBDA_MIGRATIONS, fsync=settings.fsync)
        self.blobs = BlobStore(root / "blobs", fsync=settings.fsync)
        self.engine = Engine(
            root / "engine", keep_warm_s=settings.keep_warm, max_workers=settings.max_workers
        )
        self.logs_store = LogsStore(self.logs_db)
        self.providers: dict[str, Any] = {
            "logs": LogsProvider(self.logs_store),
            "lambda": LambdaProvider(self.lambda_db, self.blobs, self.engine, self.logs_store),
        }

    async def start(self) -> None:
        await self.logs_db.open()
        await self.lambda_db.open()
        await self.engine.start()
        for provider in self.providers.values():
            await provider.start()

    async def stop(self) -> None:
        for name, provider in reversed(self.providers.items()):
            try:
                await provider.stop()
            except Exception:  # one provider's failure must not keep the rest running
                log.exception("stopping provider %s failed", name)
        await self.engine.stop()
        await self.lambda_db.close()
        await self.logs_db.close()
