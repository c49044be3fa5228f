"""The DynamoDB and DynamoDB Streams providers.

``DynamoDBProvider`` is assembled from one mixin per concern (tables, items,
batches and transactions, query/scan, PartiQL); ``DynamoDBStreamsProvider``
serves the separate ``dynamodbstreams`` API from the same database.
"""

from __future__ import annotations

import os
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.dynamodb.partiql import PartiqlMixin
from cloudlet.services.dynamodb.store import MIGRATIONS
from cloudlet.services.dynamodb.streams import StreamsCore, TtlSweeper
from cloudlet.services.dynamodb.tables import TablesMixin
from cloudlet.storage import Database

DEFAULT_TTL_INTERVAL_S = 30.0


class DynamoDBProvider(TablesMixin, PartiqlMixin, StreamsCore):
    service_name = "dynamodb"

    def __init__(self, db: Database, *, ttl_interval_s: float = DEFAULT_TTL_INTERVAL_S) -> None:
        super().__init__()
        self.db = db
        self.ttl = TtlSweeper(self, ttl_interval_s)

    async def start(self) -> None:
        await self.load_tables()
        self.ttl.start()

    async def stop(self) -> None:
        await self.ttl.stop()


class DynamoDBStreamsProvider:
    service_name = "dynamodbstreams"

    def __init__(self, core: DynamoDBProvider) -> None:
        self.core = core

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ListStreams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.core.list_streams(ctx, params)

    async def DescribeStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.core.describe_stream(ctx, params)

    async def GetShardIterator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.core.get_shard_iterator(ctx, params)

    async def GetRecords(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self.core.get_records(ctx, params)


def ttl_interval_from_env() -> float:
    raw = os.environ.get("CLOUDLET_DYNAMODB_TTL_INTERVAL")
    try:
        return float(raw) if raw else DEFAULT_TTL_INTERVAL_S
    except ValueError:
        return DEFAULT_TTL_INTERVAL_S


def create_dynamodb_provider(hub: Any) -> DynamoDBProvider:
    existing = hub.providers.get("dynamodb") if hasattr(hub, "providers") else None
    if isinstance(existing, DynamoDBProvider):
        return existing
    db = hub.database("dynamodb", MIGRATIONS)
    return DynamoDBProvider(db, ttl_interval_s=ttl_interval_from_env())


def create_dynamodbstreams_provider(hub: Any) -> DynamoDBStreamsProvider:
    core = hub.providers.get("dynamodb")
    if not isinstance(core, DynamoDBProvider):
        core = create_dynamodb_provider(hub)
        hub.providers["dynamodb"] = core
    return DynamoDBStreamsProvider(core)
