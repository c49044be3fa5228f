"""The Lambda provider: one method per Lambda operation, named like it.

The operations live in three mixins (see ``base.py``); this module assembles
them and takes the constructor arguments the hub and the tests pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlet.services.lambda_.base import ProviderCore
from cloudlet.services.lambda_.destinations import Call
from cloudlet.services.lambda_.esm import EventSourceMappingOperations
from cloudlet.services.lambda_.functions import FunctionOps
from cloudlet.services.lambda_.provisioned import ProvisionedOps
from cloudlet.services.lambda_.resources import ResourceOps
from cloudlet.services.lambda_.urls import FunctionUrlOperations
from cloudlet.storage import BlobStore, Database

if TYPE_CHECKING:
    from cloudlet.engine import Engine
    from cloudlet.services.logs import LogsStore


class LambdaProvider(FunctionUrlOperations, EventSourceMappingOperations, FunctionOps, ResourceOps, ProvisionedOps):
    """AWS Lambda over SQLite (``lambda.db``), the blob store and the execution engine.

    ``engine`` may be ``None`` (control plane only: every invoke answers a
    500 ``ServiceException``); ``logs_store`` may be ``None`` (logs are dropped).
    ``retry_delays`` spaces the retries of failed async invocations (AWS: about
    1 and 2 minutes; the hub passes ``Settings.async_retry_delays``); ``async_concurrency``
    caps concurrent async deliveries.  ``call`` is the hub's in-process client
    (``ServiceHub.call``) that delivers destinations / dead letters to SQS, SNS and
    EventBridge; without it only Lambda destinations are delivered.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        engine: Engine | None,
        logs_store: LogsStore | None,
        *,
        credentials_for_functions: tuple[str, str] = ("test", "test"),
        retry_delays: tuple[float, ...] | None = None,
        async_concurrency: int | None = None,
        call: Call | None = None,
    ) -> None:
        ProviderCore.__init__(
            self, db, blobs, engine, logs_store, credentials_for_functions=credentials_for_functions
        )
        self._init_invoke(retry_delays, async_concurrency)
        self._init_destinations(call)

    async def start(self) -> None:
        await super().start()
        await self.start_event_source_mappings()

    async def stop(self) -> None:
        await self.stop_event_source_mappings()
        await super().stop()
