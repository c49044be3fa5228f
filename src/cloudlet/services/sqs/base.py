"""Shared state of the SQS provider: the queue cache and the long-poll wake-ups.

Every queue is cached in memory (loaded at start, changed only after the
write that changes it committed), so resolving a ``QueueUrl`` costs a dict
look-up.  Long polling: each queue has a generation counter and a set of
waiting futures; a committed send (or DLQ move, or visibility change) bumps
the generation and wakes the waiters, so a ``ReceiveMessage`` with
``WaitTimeSeconds`` returns as soon as a message is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.sqs.attributes import parse_arn, parse_url, queue_url
from cloudlet.services.sqs.errors import MissingParameter, QueueDoesNotExist
from cloudlet.services.sqs.store import Queue
from cloudlet.storage import Database

QueueKey = tuple[str, str, str]  # (account, region, name)


def now_ms() -> int:
    return int(time.time() * 1000)


class SqsBase:
    """Queue cache, look-ups and wake-ups shared by the operation mixins."""

    service_name = "sqs"

    def __init__(self, db: Database, *, sweep_interval_s: float = 30.0) -> None:
        self.db = db
        self.sweep_interval_s = sweep_interval_s
        self.queues: dict[QueueKey, Queue] = {}
        self.by_id: dict[int, Queue] = {}
        self._generation: dict[int, int] = {}
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}
        #: Set by ``stop()``: long polls end at once instead of waiting out their time.
        self.stopping = False
        #: (queue id, ReceiveRequestAttemptId) → (expiry on the monotonic clock, the answer given).
        self._attempts: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}

    # -- cache --------------------------------------------------------------

    def remember(self, queue: Queue) -> None:
        self.queues[(queue.account, queue.region, queue.name)] = queue
        self.by_id[queue.id] = queue

    def forget(self, queue: Queue) -> None:
        self.queues.pop((queue.account, queue.region, queue.name), None)
        self.by_id.pop(queue.id, None)
        self.notify(queue.id)

    def queue_for(self, ctx: RequestContext, params: dict[str, Any]) -> Queue:
        url = params.get("QueueUrl")
        if not url:
            raise MissingParameter("The request must contain the parameter QueueUrl.")
        account, name = parse_url(str(url), ctx.account_id)
        queue = self.queues.get((account, ctx.region, name))
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    def queue_by_arn(self, arn: str) -> Queue | None:
        try:
            region, account, name = parse_arn(arn)
        except Exception:
            return None
        return self.queues.get((account, region, name))

    def url(self, ctx: RequestContext, queue: Queue) -> str:
        return queue_url(ctx.endpoint, queue.account, queue.name)

    def dead_letter_queue(self, queue: Queue) -> Queue | None:
        policy = queue.redrive
        return self.queue_by_arn(policy["deadLetterTargetArn"]) if policy else None

    # -- long polling ------------------------------------------------------

    def generation(self, queue_id: int) -> int:
        return self._generation.get(queue_id, 0)

    def notify(self, queue_id: int) -> None:
        """Messages may be receivable now: wake every long poll of the queue."""
        self._generation[queue_id] = self._generation.get(queue_id, 0) + 1
        for future in self._waiters.pop(queue_id, set()):
            if not future.done():
                future.set_result(None)

    async def wait(self, queue_id: int, timeout: float) -> None:
        """Sleep until ``notify(queue_id)`` or ``timeout`` seconds, whichever first."""
        if timeout <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(queue_id, set()).add(future)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
        finally:
            waiters = self._waiters.get(queue_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    self._waiters.pop(queue_id, None)

    def wake_all(self) -> None:
        self.stopping = True
        for queue_id in list(self._waiters):
            self.notify(queue_id)
