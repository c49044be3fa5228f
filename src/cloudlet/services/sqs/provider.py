"""The SQS provider: queue and message operations over one SQLite database.

Operations are split by concern (:mod:`.queues`, :mod:`.messaging`); this
module assembles them and owns the lifecycle (loading the queue cache, the
retention sweeper).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from cloudlet.services.sqs import store
from cloudlet.services.sqs.base import now_ms
from cloudlet.services.sqs.messaging import MessageOperations
from cloudlet.services.sqs.queues import QueueOperations
from cloudlet.services.sqs.store import Queue
from cloudlet.storage import Database

log = logging.getLogger(__name__)


class SqsProvider(QueueOperations, MessageOperations):
    """Amazon SQS (both the JSON and the legacy query wire route here)."""

    def __init__(self, db: Database, *, sweep_interval_s: float = 30.0) -> None:
        super().__init__(db, sweep_interval_s=sweep_interval_s)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        rows = await self.db.fetchall("SELECT * FROM queues")
        for row in rows:
            self.remember(Queue.from_row(row))
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sqs-sweeper")

    async def stop(self) -> None:
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.wake_all()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            queues = list(self.by_id.values())
            now = now_ms()
            try:
                await self.db.write(functools.partial(store.sweep, queues=queues, now=now))
            except Exception:  # a failing sweep must not stop the next one
                log.exception("sqs: retention sweep failed")
