"""Amazon SQS: durable standard and FIFO queues in SQLite, with long polling and dead-letter queues."""

from __future__ import annotations

from typing import Any

from cloudlet.services.sqs.provider import SqsProvider
from cloudlet.services.sqs.store import MIGRATIONS

__all__ = ["MIGRATIONS", "SqsProvider", "create_provider"]


def create_provider(hub: Any) -> SqsProvider:
    return SqsProvider(hub.database("sqs", MIGRATIONS))
