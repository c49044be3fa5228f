"""The Lambda provider: one method per Lambda operation, named like it.

The operations live in three mixins (see ``base.py``); this module assembles
them and takes the constructor arguments the hub and the tests pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlet.services.lambda_.base import ProviderCore
from cloudlet.services.lambda_.functions import FunctionOps
from cloudlet.services.lambda_.invoke import InvokeOps
from cloudlet.services.lambda_.resources import ResourceOps
from cloudlet.storage import BlobStore, Database

if TYPE_CHECKING:
    from cloudlet.engine import Engine
    from cloudlet.services.logs import LogsStore


class LambdaProvider(FunctionOps, ResourceOps, InvokeOps):
    """AWS Lambda over SQLite (``lambda.db``), the blob store and the execution engine.

    ``engine`` may be ``None`` (control plane only: every invoke answers a
    500 ``ServiceException``); ``logs_store`` may be ``None`` (logs are dropped).
    ``retry_delays`` spaces the retries of failed async invocations (AWS: about
    1 and 2 minutes); ``async_concurrency`` caps concurrent async deliveries.
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
    ) -> None:
        ProviderCore.__init__(
            self, db, blobs, engine, logs_store, credentials_for_functions=credentials_for_functions
        )
        self._init_invoke(retry_delays, async_concurrency)
