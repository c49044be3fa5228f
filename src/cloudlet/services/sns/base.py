"""Shared state of the SNS provider: cached topics and subscriptions, the outbox, look-ups."""

from __future__ import annotations

import datetime
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.events import DEFAULT_RETRY_DELAYS, Outbox
from cloudlet.services.sns.delivery import Deliverer
from cloudlet.services.sns.errors import InvalidParameter, NotFound
from cloudlet.services.sns.store import Subscription, Topic
from cloudlet.storage import Database


def timestamp() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class SnsBase:
    service_name = "sns"

    def __init__(
        self,
        db: Database,
        hub: Any,
        *,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.db = db
        self.hub = hub
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.by_topic: dict[str, dict[str, Subscription]] = {}
        self.deliverer = Deliverer(hub)
        self.outbox = Outbox(
            db, self.deliverer.deliver, retry_delays=retry_delays, on_give_up=self.deliverer.give_up
        )
        self.fifo_outbox = Outbox(
            db,
            self.deliverer.deliver,
            table="outbox_fifo",
            retry_delays=retry_delays,
            on_give_up=self.deliverer.give_up,
            concurrency=1,
        )

    def remember_topic(self, topic: Topic) -> None:
        self.topics[topic.arn] = topic
        self.by_topic.setdefault(topic.arn, {})

    def remember_subscription(self, sub: Subscription) -> None:
        self.subscriptions[sub.arn] = sub
        self.by_topic.setdefault(sub.topic_arn, {})[sub.arn] = sub

    def forget_subscription(self, arn: str) -> None:
        sub = self.subscriptions.pop(arn, None)
        if sub is not None:
            self.by_topic.get(sub.topic_arn, {}).pop(arn, None)

    def topic(self, ctx: RequestContext, arn: Any, *, parameter: str = "TopicArn") -> Topic:
        if not arn:
            raise InvalidParameter(f"{parameter} Reason: no value for required parameter")
        text = str(arn)
        parts = text.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
            raise InvalidParameter(
                f"{parameter} Reason: An ARN must have at least 6 elements, not {len(parts)}"
            )
        topic = self.topics.get(text)
        if topic is None:
            raise NotFound("Topic does not exist")
        return topic

    def subscription(self, arn: Any) -> Subscription:
        if not arn:
            raise InvalidParameter("SubscriptionArn Reason: no value for required parameter")
        sub = self.subscriptions.get(str(arn))
        if sub is None:
            if len(str(arn).split(":")) < 7:
                raise InvalidParameter("SubscriptionId")
            raise NotFound("Subscription does not exist")
        return sub
