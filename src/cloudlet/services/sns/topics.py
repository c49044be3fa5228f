"""Topic and subscription operations: create/delete/list, attributes, subscribe/confirm/unsubscribe, tags."""

from __future__ import annotations

import functools
import json
import secrets
import uuid
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.sns import store
from cloudlet.services.sns.base import SnsBase, timestamp
from cloudlet.services.sns.errors import InvalidParameter, ResourceNotFound, TagLimitExceeded
from cloudlet.services.sns.store import Subscription, Topic
from cloudlet.services.sns.validation import (
    CONFIRM_AT_ONCE,
    PROTOCOLS,
    check_topic_name,
    subscription_attribute,
    topic_attribute,
)

PAGE_SIZE = 100


def _default_policy(topic: Topic) -> str:
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "SNS:GetTopicAttributes",
                        "SNS:SetTopicAttributes",
                        "SNS:AddPermission",
                        "SNS:RemovePermission",
                        "SNS:DeleteTopic",
                        "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic",
                        "SNS:Publish",
                    ],
                    "Resource": topic.arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": topic.account}},
                }
            ],
        },
        separators=(",", ":"),
    )


_EFFECTIVE_DELIVERY_POLICY = json.dumps(
    {
        "http": {
            "defaultHealthyRetryPolicy": {
                "minDelayTarget": 20,
                "maxDelayTarget": 20,
                "numRetries": 3,
                "numMaxDelayRetries": 0,
                "numNoDelayRetries": 0,
                "numMinDelayRetries": 0,
                "backoffFunction": "linear",
            },
            "disableSubscriptionOverrides": False,
            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
        }
    },
    separators=(",", ":"),
)


def _page(items: list[Any], token: Any) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        if not str(token).isdigit():
            raise InvalidParameter("NextToken")
        start = int(token)
    page = items[start : start + PAGE_SIZE]
    more = start + PAGE_SIZE < len(items)
    return page, str(start + PAGE_SIZE) if more else None


class TopicOperations(SnsBase):
    # -- topics -------------------------------------------------------------

    async def CreateTopic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name") or ""
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        fifo = given.get("FifoTopic", "false").lower() == "true"
        check_topic_name(name, fifo)
        attributes = {k: topic_attribute(k, v, creating=True) for k, v in given.items()}
        if params.get("DataProtectionPolicy"):
            attributes["DataProtectionPolicy"] = params["DataProtectionPolicy"]
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account_id}:{name}"
        existing = self.topics.get(arn)
        if existing is not None:
            for key, value in attributes.items():
                if key != "FifoTopic" and existing.attributes.get(key, value) != value:
                    raise InvalidParameter(
                        "Attributes Reason: Topic already exists with different attributes"
                    )
            return {"TopicArn": arn}
        if fifo:
            attributes.setdefault("FifoTopic", "true")
            attributes.setdefault("ContentBasedDeduplication", "false")
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or ()}
        topic = Topic(arn, ctx.account_id, ctx.region, name, fifo, attributes, tags)
        await self.db.write(lambda conn: store.save_topic(conn, topic))
        self.remember_topic(topic)
        return {"TopicArn": arn}

    async def DeleteTopic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("TopicArn")
        if not arn:
            raise InvalidParameter("TopicArn Reason: no value for required parameter")
        if arn not in self.topics:
            return {}  # deleting a missing topic is not an error on AWS
        await self.db.write(lambda conn: store.delete_topic(conn, arn))
        for sub_arn in list(self.by_topic.get(arn, {})):
            self.forget_subscription(sub_arn)
        self.topics.pop(arn, None)
        self.by_topic.pop(arn, None)
        return {}

    async def ListTopics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arns = sorted(
            t.arn
            for t in self.topics.values()
            if t.account == ctx.account_id and t.region == ctx.region
        )
        page, token = _page(arns, params.get("NextToken"))
        out: dict[str, Any] = {"Topics": [{"TopicArn": arn} for arn in page]}
        if token:
            out["NextToken"] = token
        return out

    async def GetTopicAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        subs = list(self.by_topic.get(topic.arn, {}).values())
        out = {
            "Policy": _default_policy(topic),
            "Owner": topic.account,
            "SubscriptionsPending": str(sum(1 for s in subs if not s.confirmed)),
            "TopicArn": topic.arn,
            "EffectiveDeliveryPolicy": _EFFECTIVE_DELIVERY_POLICY,
            "SubscriptionsConfirmed": str(sum(1 for s in subs if s.confirmed)),
            "DisplayName": "",
            "SubscriptionsDeleted": "0",
        }
        out.update(topic.attributes)
        return {"Attributes": out}

    async def SetTopicAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        name = params.get("AttributeName") or ""
        value = topic_attribute(name, str(params.get("AttributeValue") or ""), creating=False)
        if name == "ContentBasedDeduplication" and not topic.fifo:
            raise InvalidParameter(
                "Attributes Reason: ContentBasedDeduplication is only valid for FIFO topics"
            )
        attributes = {**topic.attributes, name: value}
        updated = Topic(**{**topic.__dict__, "attributes": attributes})
        await self.db.write(lambda conn: store.save_topic(conn, updated))
        topic.attributes = attributes
        return {}

    # -- subscriptions -----------------------------------------------------

    async def Subscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        protocol = str(params.get("Protocol") or "")
        endpoint = str(params.get("Endpoint") or "")
        if protocol not in PROTOCOLS:
            raise InvalidParameter(f"Amazon SNS does not support this protocol string: {protocol}")
        self._check_endpoint(topic, protocol, endpoint)
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        attributes: dict[str, str] = {}
        for key in sorted(given, key=lambda k: k != "FilterPolicyScope"):
            attributes[key] = subscription_attribute(key, given[key], protocol, attributes)
        for sub in self.by_topic.get(topic.arn, {}).values():
            if sub.protocol == protocol and sub.endpoint == endpoint:
                if any(sub.attributes.get(k) != v for k, v in attributes.items()):
                    raise InvalidParameter(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                return {"SubscriptionArn": self._shown_arn(sub, params)}
        confirmed = protocol in CONFIRM_AT_ONCE
        sub = Subscription(
            arn=f"{topic.arn}:{uuid.uuid4()}",
            topic_arn=topic.arn,
            owner=ctx.account_id,
            protocol=protocol,
            endpoint=endpoint,
            attributes=attributes,
            confirmed=confirmed,
            token=None if confirmed else secrets.token_hex(64),
        )
        confirm_payload = None
        if protocol in ("http", "https"):
            confirm_payload = {
                "sub": sub.arn,
                "topic": topic.arn,
                "endpoint": endpoint,
                "token": sub.token,
                "url": ctx.endpoint,
                "id": str(uuid.uuid4()),
                "ts": timestamp(),
            }

        def write(conn: Any) -> None:
            store.save_subscription(conn, sub)
            if confirm_payload is not None:
                self.outbox.enqueue(conn, "confirm", confirm_payload)

        await self.db.write(write)
        if confirm_payload is not None:
            self.outbox.wake()
        self.remember_subscription(sub)
        return {"SubscriptionArn": self._shown_arn(sub, params)}

    @staticmethod
    def _shown_arn(sub: Subscription, params: dict[str, Any]) -> str:
        if sub.confirmed or params.get("ReturnSubscriptionArn"):
            return sub.arn
        return "pending confirmation"

    @staticmethod
    def _check_endpoint(topic: Topic, protocol: str, endpoint: str) -> None:
        if protocol == "sqs" and not endpoint.startswith("arn:aws:sqs:"):
            raise InvalidParameter("SQS endpoint ARN")
        if protocol == "lambda" and not endpoint.startswith("arn:aws:lambda:"):
            raise InvalidParameter("Lambda endpoint ARN")
        if protocol in ("http", "https") and not endpoint.lower().startswith(protocol + "://"):
            raise InvalidParameter("Endpoint must match the specified protocol")
        if protocol in ("email", "email-json") and "@" not in endpoint:
            raise InvalidParameter("Email address")
        if topic.fifo and protocol != "sqs":
            raise InvalidParameter(f"Invalid protocol type: {protocol}")
        if protocol == "sqs" and endpoint.endswith(".fifo") and not topic.fifo:
            raise InvalidParameter(
                "Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"
            )

    async def ConfirmSubscription(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        token = params.get("Token")
        for sub in self.by_topic.get(topic.arn, {}).values():
            if sub.token and sub.token == token:
                if not sub.confirmed:
                    confirmed = Subscription(**{**sub.__dict__, "confirmed": True})
                    await self.db.write(functools.partial(store.save_subscription, sub=confirmed))
                    sub.confirmed = True
                return {"SubscriptionArn": sub.arn}
        raise InvalidParameter("Token")

    async def Unsubscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("SubscriptionArn")
        if not arn:
            raise InvalidParameter("SubscriptionArn Reason: no value for required parameter")
        if arn in self.subscriptions:
            await self.db.write(lambda conn: store.delete_subscription(conn, arn))
            self.forget_subscription(arn)
        return {}

    @staticmethod
    def _listing(sub: Subscription) -> dict[str, Any]:
        return {
            "SubscriptionArn": sub.arn if sub.confirmed else "PendingConfirmation",
            "Owner": sub.owner,
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "TopicArn": sub.topic_arn,
        }

    async def ListSubscriptions(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        subs = sorted(
            (
                s
                for s in self.subscriptions.values()
                if (t := self.topics.get(s.topic_arn)) is not None
                and t.account == ctx.account_id
                and t.region == ctx.region
            ),
            key=lambda s: s.arn,
        )
        page, token = _page(subs, params.get("NextToken"))
        out: dict[str, Any] = {"Subscriptions": [self._listing(s) for s in page]}
        if token:
            out["NextToken"] = token
        return out

    async def ListSubscriptionsByTopic(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        subs = sorted(self.by_topic.get(topic.arn, {}).values(), key=lambda s: s.arn)
        page, token = _page(subs, params.get("NextToken"))
        out: dict[str, Any] = {"Subscriptions": [self._listing(s) for s in page]}
        if token:
            out["NextToken"] = token
        return out

    async def GetSubscriptionAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        sub = self.subscription(params.get("SubscriptionArn"))
        out = {
            "Owner": sub.owner,
            "RawMessageDelivery": "false",
            "TopicArn": sub.topic_arn,
            "Endpoint": sub.endpoint,
            "Protocol": sub.protocol,
            "PendingConfirmation": "false" if sub.confirmed else "true",
            "ConfirmationWasAuthenticated": "true" if sub.confirmed else "false",
            "SubscriptionArn": sub.arn,
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:root",
        }
        if sub.protocol in ("http", "https"):
            out["EffectiveDeliveryPolicy"] = json.dumps(
                json.loads(_EFFECTIVE_DELIVERY_POLICY)["http"], separators=(",", ":")
            )
        out.update(sub.attributes)
        if "FilterPolicy" in sub.attributes:
            out.setdefault("FilterPolicyScope", "MessageAttributes")
        return {"Attributes": out}

    async def SetSubscriptionAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        sub = self.subscription(params.get("SubscriptionArn"))
        name = str(params.get("AttributeName") or "")
        value = subscription_attribute(
            name, str(params.get("AttributeValue") or ""), sub.protocol, sub.attributes
        )
        attributes = dict(sub.attributes)
        if value == "" and name in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
            attributes.pop(name, None)
        else:
            attributes[name] = value
        updated = Subscription(**{**sub.__dict__, "attributes": attributes})
        await self.db.write(lambda conn: store.save_subscription(conn, updated))
        sub.attributes = attributes
        return {}

    # -- tags ---------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: Any) -> Topic:
        topic = self.topics.get(str(arn or ""))
        if topic is None:
            raise ResourceNotFound("Resource does not exist")
        return topic

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self._tagged(ctx, params.get("ResourceArn"))
        tags = {**topic.tags, **{t["Key"]: t["Value"] for t in params.get("Tags") or ()}}
        if len(tags) > 50:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        await self._save_tags(topic, tags)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self._tagged(ctx, params.get("ResourceArn"))
        drop = set(params.get("TagKeys") or ())
        await self._save_tags(topic, {k: v for k, v in topic.tags.items() if k not in drop})
        return {}

    async def ListTagsForResource(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        topic = self._tagged(ctx, params.get("ResourceArn"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    async def _save_tags(self, topic: Topic, tags: dict[str, str]) -> None:
        updated = Topic(**{**topic.__dict__, "tags": tags})
        await self.db.write(lambda conn: store.save_topic(conn, updated))
        topic.tags = tags
