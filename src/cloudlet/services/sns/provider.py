"""The SNS provider: topics, subscriptions and publishing, with deliveries through a durable outbox."""

from __future__ import annotations

from typing import Any

from cloudlet.events import DEFAULT_RETRY_DELAYS
from cloudlet.services.sns.publish import PublishOperations
from cloudlet.services.sns.store import Subscription, Topic
from cloudlet.services.sns.topics import TopicOperations
from cloudlet.storage import Database


class SnsProvider(TopicOperations, PublishOperations):
    """Amazon SNS (query protocol)."""

    def __init__(
        self, db: Database, hub: Any, *, retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    ) -> None:
        super().__init__(db, hub, retry_delays=retry_delays)

    async def start(self) -> None:
        for row in await self.db.fetchall("SELECT * FROM topics"):
            self.remember_topic(Topic.from_row(row))
        for row in await self.db.fetchall("SELECT * FROM subscriptions"):
            self.remember_subscription(Subscription.from_row(row))
        await self.outbox.start()
        await self.fifo_outbox.start()

    async def stop(self) -> None:
        await self.fifo_outbox.stop()
        await self.outbox.stop()
