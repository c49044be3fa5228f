"""Event source mappings across a ``kill -9`` of the server (needs the lead's wiring).

SQS: no message is lost; each reaches the function at least once and the queue
drains.  DynamoDB streams: every change reaches the function, in order per
key, and changes handled before the kill are not handed over again after it
(the checkpoint is durable), except possibly the batch in flight at the kill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.lambda_.esm_support import function_params, records_of, unique
from tests.servers import ServerProcess


def _require_wiring(server: ServerProcess) -> None:
    try:
        server.client("lambda").list_event_source_mappings()
    except Exception as exc:
        pytest.skip(f"the server's Lambda provider has no event source mappings yet: {exc}")


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_sqs_mapping_survives_kill9(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    _require_wiring(server)
    out = tmp_path / "out.jsonl"
    lam, sqs = server.client("lambda"), server.client("sqs")
    fn = unique("fn")
    lam.create_function(**function_params(fn, out))
    url = sqs.create_queue(QueueName=unique("q"), Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, BatchSize=5)
    bodies = [f"m{n}" for n in range(40)]
    for start in range(0, 20, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": bodies[start + n]} for n in range(10)],
        )
    _wait(lambda: len(records_of(out)) >= 5)
    server.kill9()
    server = start_server(data, port=server.port)
    sqs = server.client("sqs")
    for start in range(20, 40, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": bodies[start + n]} for n in range(10)],
        )
    _wait(lambda: {r["body"] for r in records_of(out)} >= set(bodies), timeout=40)

    def drained() -> bool:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return attrs == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }

    _wait(drained)


def test_stream_mapping_survives_kill9(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    _require_wiring(server)
    out = tmp_path / "out.jsonl"
    lam, ddb = server.client("lambda"), server.client("dynamodb")
    fn = unique("fn")
    lam.create_function(**function_params(fn, out))
    name = unique("tbl")
    stream_arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=fn, StartingPosition="TRIM_HORIZON", BatchSize=3
    )

    def write(ddb_client: Any, n: int) -> None:
        ddb_client.put_item(TableName=name, Item={"pk": {"S": f"k{n % 3}"}, "Msg": {"S": f"v{n}"}})

    for n in range(6):
        write(ddb, n)
    _wait(lambda: len(records_of(out)) >= 6)
    before = len(records_of(out))
    server.kill9()
    server = start_server(data, port=server.port)
    ddb = server.client("dynamodb")
    for n in range(6, 12):
        write(ddb, n)
    _wait(
        lambda: (
            {r["dynamodb"]["NewImage"]["Msg"]["S"] for r in records_of(out)}
            >= {f"v{n}" for n in range(12)}
        )
    )
    time.sleep(1.5)
    records = records_of(out)
    seen = [r["dynamodb"]["NewImage"]["Msg"]["S"] for r in records]
    assert len(records) >= before + 6
    # At-least-once: a batch handled just before the kill, whose checkpoint had not been
    # written yet, may come again; nothing written after the restart is delivered twice.
    assert all(seen.count(f"v{n}") == 1 for n in range(6, 12))
    for key in ("k0", "k1", "k2"):
        firsts: list[int] = []
        for r in records:
            n = int(r["dynamodb"]["NewImage"]["Msg"]["S"][1:])
            if r["dynamodb"]["Keys"]["pk"]["S"] == key and n not in firsts:
                firsts.append(n)
        assert firsts == sorted(firsts)  # order per key is kept
