"""What subscribers receive, and how it gets there.

Publish enqueues one outbox event per matching subscription (``deliver``) in
its own transaction; the outbox calls :meth:`Deliverer.deliver`, which sends

* to SQS: ``hub.call("sqs", "SendMessage")`` with the JSON notification
  envelope as body, or the raw message (and its attributes as SQS message
  attributes) when ``RawMessageDelivery`` is on;
* to Lambda: ``hub.call("lambda", "Invoke", InvocationType="Event")`` with the
  ``{"Records": [{"EventSource": "aws:sns", …}]}`` event;
* to HTTP/HTTPS: a POST of the envelope with the ``x-amz-sns-*`` headers
  (a ``SubscriptionConfirmation`` for a new subscription: event ``confirm``).

A failure raises, so the outbox retries; when it gives up, the message goes
to the subscription's ``RedrivePolicy`` dead-letter queue if it has one.

Signatures: Cloudlet has no AWS signing certificate, so ``Signature`` is an
opaque digest of the canonical string (``SignatureVersion`` kept as 1); a
subscriber that verifies signatures against AWS's certificate will reject it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import logging
import urllib.parse
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 15.0


def _signature(fields: dict[str, Any]) -> str:
    keys = (
        "Message",
        "MessageId",
        "Subject",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    )
    canonical = "".join(f"{k}\n{fields[k]}\n" for k in keys if fields.get(k) is not None)
    # As long as an RSA-2048 signature (256 bytes), but only a digest: Cloudlet holds no AWS signing key.
    return base64.b64encode(hashlib.sha256(canonical.encode()).digest() * 8).decode()


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def format_document(document: dict[str, Any]) -> str:
    """JSON text laid out as SNS writes its envelopes (``"Key" : value``, two-space indent)."""
    lines = []
    for key, value in document.items():
        if isinstance(value, dict):
            inner = ",\n".join(f"    {_compact(k)} : {_compact(v)}" for k, v in value.items())
            text = "{\n" + inner + "\n  }" if value else "{}"
        else:
            text = _compact(value)
        lines.append(f"  {_compact(key)} : {text}")
    return "{\n" + ",\n".join(lines) + "\n}"


def cert_url(payload: dict[str, Any]) -> str:
    return f"{payload['url']}/_cloudlet/sns/SimpleNotificationService-cloudlet.pem"


def unsubscribe_url(payload: dict[str, Any]) -> str:
    # AWS leaves the ARN's colons unescaped here.
    return f"{payload['url']}/?Action=Unsubscribe&SubscriptionArn={payload['sub']}"


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON notification SQS and HTTP subscribers receive (key order as AWS writes it)."""
    out: dict[str, Any] = OrderedDict()
    out["Type"] = "Notification"
    out["MessageId"] = payload["id"]
    if payload.get("seq"):
        out["SequenceNumber"] = payload["seq"]
    out["TopicArn"] = payload["topic"]
    if payload.get("subject") is not None:
        out["Subject"] = payload["subject"]
    out["Message"] = payload["message"]
    out["Timestamp"] = payload["ts"]
    out["SignatureVersion"] = payload.get("sigv") or "1"
    out["Signature"] = _signature(out)
    out["SigningCertURL"] = cert_url(payload)
    out["UnsubscribeURL"] = unsubscribe_url(payload)
    if payload.get("attrs"):
        out["MessageAttributes"] = payload["attrs"]
    return out


def lambda_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The event a Lambda subscriber is invoked with (AWS_FACTS §2.3: ``…Url`` spelled this way here)."""
    sns: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": payload["id"],
        "TopicArn": payload["topic"],
        "Subject": payload.get("subject"),
        "Message": payload["message"],
        "Timestamp": payload["ts"],
        "SignatureVersion": payload.get("sigv") or "1",
    }
    sns["Signature"] = _signature(sns)
    sns["SigningCertUrl"] = cert_url(payload)
    sns["UnsubscribeUrl"] = unsubscribe_url(payload)
    sns["MessageAttributes"] = payload.get("attrs") or {}
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": payload["sub"],
                "Sns": sns,
            }
        ]
    }


def confirmation(payload: dict[str, Any]) -> dict[str, Any]:
    query = urllib.parse.urlencode(
        {"Action": "ConfirmSubscription", "TopicArn": payload["topic"], "Token": payload["token"]}
    )
    out: dict[str, Any] = OrderedDict()
    out["Type"] = "SubscriptionConfirmation"
    out["MessageId"] = payload["id"]
    out["Token"] = payload["token"]
    out["TopicArn"] = payload["topic"]
    out["Message"] = (
        f"You have chosen to subscribe to the topic {payload['topic']}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )
    out["SubscribeURL"] = f"{payload['url']}/?{query}"
    out["Timestamp"] = payload["ts"]
    out["SignatureVersion"] = "1"
    out["Signature"] = _signature(out)
    out["SigningCertURL"] = cert_url(payload)
    return out


def sqs_attributes(attrs: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """SNS message attributes as SQS message attributes (raw delivery)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in attrs.items():
        if value["Type"].startswith("Binary"):
            out[name] = {"DataType": value["Type"], "BinaryValue": base64.b64decode(value["Value"])}
        else:
            out[name] = {"DataType": value["Type"], "StringValue": value["Value"]}
    return out


def queue_url_of(arn: str, endpoint: str) -> tuple[str, str, str]:
    """(queue URL, region, account) of an SQS queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6:
        raise ValueError(f"not an SQS queue ARN: {arn}")
    return f"{endpoint}/{parts[4]}/{parts[5]}", parts[3], parts[4]


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST with the header names spelled as given (``x-amz-sns-…`` in lower case, as SNS sends them)."""
    parts = urllib.parse.urlsplit(url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.hostname or "localhost", parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


class DeliveryFailed(Exception):
    """A subscriber endpoint refused or could not take a message."""


class Deliverer:
    """Outbox callbacks: deliver one event, or dead-letter it when the outbox gives up."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "confirm":
            await self._http(payload, confirmation(payload), "SubscriptionConfirmation")
            return
        protocol = payload["protocol"]
        if protocol == "sqs":
            await self._sqs(payload["endpoint"], payload)
        elif protocol == "lambda":
            await self._lambda(payload)
        elif protocol in ("http", "https"):
            if payload.get("raw"):
                await self._http(payload, payload["message"], "Notification", raw=True)
            else:
                await self._http(payload, envelope(payload), "Notification")
        # email, sms, application, firehose: recorded, not delivered.

    async def give_up(self, kind: str, payload: dict[str, Any], error: BaseException) -> None:
        target = payload.get("dlq") if kind == "deliver" else None
        if not target:
            log.warning("sns: dropped delivery to %s after retries: %s", payload.get("sub"), error)
            return
        await self._sqs(target, payload, dead_letter=True)

    async def _sqs(
        self, queue_arn: str, payload: dict[str, Any], *, dead_letter: bool = False
    ) -> None:
        url, region, account = queue_url_of(queue_arn, payload["url"])
        params: dict[str, Any] = {"QueueUrl": url}
        if payload.get("raw"):
            params["MessageBody"] = payload["message"]
            if payload.get("attrs"):
                params["MessageAttributes"] = sqs_attributes(payload["attrs"])
        else:
            params["MessageBody"] = format_document(envelope(payload))
        if queue_arn.endswith(".fifo"):
            params["MessageGroupId"] = payload.get("group") or payload["id"]
            params["MessageDeduplicationId"] = payload.get("dedup") or payload["id"]
        elif payload.get("group") and not payload.get("fifo"):
            params["MessageGroupId"] = payload["group"]
        await self.hub.call(
            "sqs", "SendMessage", params, region=region, account_id=account, endpoint=payload["url"]
        )

    async def _lambda(self, payload: dict[str, Any]) -> None:
        function_arn = payload["endpoint"]
        parts = function_arn.split(":")
        region = parts[3] if len(parts) > 4 else payload["region"]
        account = parts[4] if len(parts) > 4 else payload["account"]
        event = json.dumps(lambda_event(payload), ensure_ascii=False).encode()
        await self.hub.call(
            "lambda",
            "Invoke",
            {"FunctionName": function_arn, "InvocationType": "Event", "Payload": event},
            region=region,
            account_id=account,
            endpoint=payload["url"],
        )

    async def _http(
        self, payload: dict[str, Any], document: Any, message_type: str, *, raw: bool = False
    ) -> None:
        body = document if isinstance(document, str) else format_document(document)
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message_type,
            "x-amz-sns-message-id": payload["id"],
            "x-amz-sns-topic-arn": payload["topic"],
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if message_type == "Notification":
            headers["x-amz-sns-subscription-arn"] = payload["sub"]
        if raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        try:
            status = await asyncio.to_thread(_post, payload["endpoint"], body.encode(), headers)
        except OSError as error:
            raise DeliveryFailed(f"{payload['endpoint']}: {error}") from error
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{payload['endpoint']} answered {status}")
