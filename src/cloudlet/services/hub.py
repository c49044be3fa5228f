"""The assembled back end of one server: storage, engine and every provider.

The hub owns the lifecycle of everything below the edge: it opens one SQLite
database per service under the data directory, starts the execution engine,
builds the providers and starts them, and stops all of it in reverse order.
The edge only ever sees ``providers`` (service name → provider object).

Logs and Lambda are built here by name.  Every other service is a package
``cloudlet.services.<package>`` that exposes ``create_provider(hub)``; a
routed service whose package does not exist yet has no provider, and the edge
answers each of its operations with a 501 naming it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from cloudlet.config import Settings
from cloudlet.context import RequestContext
from cloudlet.edge.credentials import CredentialStore
from cloudlet.engine import Engine
from cloudlet.errors import NotImplementedOperation
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.lambda_ import MIGRATIONS as LAMBDA_MIGRATIONS
from cloudlet.services.lambda_ import LambdaProvider
from cloudlet.services.logs import MIGRATIONS as LOGS_MIGRATIONS
from cloudlet.services.logs import LogsProvider, LogsStore
from cloudlet.storage import BlobStore, Database, Migration

log = logging.getLogger(__name__)

#: Services whose wire protocol the edge speaks (botocore names).  A service
#: listed here without a provider answers 501 for each of its operations.
ROUTED_SERVICES = (
    "lambda",
    "logs",
    "s3",
    "sqs",
    "sns",
    "dynamodb",
    "dynamodbstreams",
    "apigateway",
    "apigatewayv2",
    "events",
    "scheduler",
    # Routed so that every call answers 501 naming its operation until a provider lands.
    "stepfunctions",
    "kinesis",
)

#: botocore service name → package under ``cloudlet.services`` when they differ.
PACKAGES = {"lambda": "lambda_", "dynamodbstreams": "dynamodb"}

ProviderFactory = Callable[["ServiceHub"], Any]
#: An HTTP data plane (API Gateway's execute-api, Lambda function URLs): raw request in, response out.
DataPlane = Callable[[HttpRequest], Awaitable[HttpResponse]]


def provider_factory(service: str) -> ProviderFactory | None:
    """``create_provider`` of the service's package, or None if it has none (yet)."""
    module_name = f"cloudlet.services.{PACKAGES.get(service, service)}"
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    factory = getattr(module, f"create_{service}_provider", None) or getattr(module, "create_provider", None)
    return factory if callable(factory) else None


class ServiceHub:
    """Storage, engine and providers of one server, with one start/stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.databases: list[Database] = []
        #: The access keys requests are signed with: the edge and every data plane check against these.
        self.credentials = CredentialStore.from_spec(settings.credentials)
        self.blobs = BlobStore(root / "blobs", fsync=settings.fsync)
        self.engine = Engine(
            root / "engine",
            keep_warm_s=settings.keep_warm,
            max_workers=settings.max_workers,
            memory_budget_mb=settings.memory_budget_mb or None,
            account_concurrency=settings.account_concurrency,
            private_tmp=settings.private_tmp,
        )
        #: Data planes by name (``execute-api``, ``lambda-url``), registered by providers
        #: in ``create_provider``; the edge sends ``{id}.{name}.localhost`` and
        #: ``/_aws/{name}/{id}/…`` requests to them.
        self.data_planes: dict[str, DataPlane] = {}
        self.logs_store = LogsStore(self.database("logs", LOGS_MIGRATIONS))
        self.providers: dict[str, Any] = {
            "logs": LogsProvider(self.logs_store),
            "lambda": LambdaProvider(
                self.database("lambda", LAMBDA_MIGRATIONS),
                self.blobs,
                self.engine,
                self.logs_store,
                retry_delays=settings.async_retry_delays,
                call=self.call,
            ),
        }
        self.providers["lambda"].configure_event_source_mappings(call=self.call)
        self.data_planes["lambda-url"] = self.providers["lambda"].function_url_plane(self.credentials)
        for service in ROUTED_SERVICES:
            if service in self.providers:
                continue
            factory = provider_factory(service)
            if factory is not None:
                self.providers[service] = factory(self)

    async def call(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        *,
        region: str,
        account_id: str,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Call another service's operation in-process, as a boto3 client of that account would.

        This is the narrow client interface services use to deliver events
        (an SNS delivery is ``call("sqs", "SendMessage", …)``); it raises the
        provider's ``ServiceError`` exactly as the wire would carry it, and
        ``NotImplementedOperation`` for a service or operation Cloudlet lacks.
        """
        provider = self.providers.get(service)
        method = getattr(provider, operation, None) if provider is not None else None
        if method is None:
            raise NotImplementedOperation(service, operation)
        ctx = RequestContext(
            request_id=str(uuid.uuid4()),
            service=service,
            operation=operation,
            region=region,
            account_id=account_id,
            access_key_id=None,
            endpoint=endpoint or self.settings.endpoint,
        )
        result: dict[str, Any] = await method(ctx, params)
        return result

    def database(self, name: str, migrations: Sequence[Migration]) -> Database:
        """A database ``<data dir>/<name>.db`` opened and closed with the hub."""
        db = Database(self.root / f"{name}.db", migrations, fsync=self.settings.fsync)
        self.databases.append(db)
        return db

    async def start(self) -> None:
        for db in self.databases:
            await db.open()
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
        for db in reversed(self.databases):
            await db.close()
