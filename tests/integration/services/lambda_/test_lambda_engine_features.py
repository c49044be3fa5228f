"""Issue 3 through the Lambda provider: SnapStart, provisioned concurrency, destinations,
dead letters, throttling vs queueing, and recovery from killed workers and servers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.lambda_.test_lambda_boto3 import create, unique, wait_until
from tests.integration.services.lambda_.test_lambda_provider import (
    ACCOUNT,
    ARN,
    REGION,
    create_params,
    environment,
    wait_for,
)
from tests.servers import ServerProcess

from cloudlet.errors import ServiceError

SNAP = """
import os, random
from snapshot_restore_py import register_after_restore, register_before_snapshot
random.seed(7)
HOOKS = []
register_before_snapshot(lambda: HOOKS.append("before"))
@register_after_restore
def reseed():
    HOOKS.append("after")
    random.seed(os.urandom(8))
def handler(event, context):
    return {"hooks": HOOKS, "draw": random.random(), "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""

SLEEPY = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""

RECORDER = """
import json, os
def handler(event, context):
    with open(os.environ["SINK"], "a") as f:
        f.write(json.dumps(event) + "\\n")
    return "recorded"
"""

FAILS = """
def handler(event, context):
    raise ValueError("always " + str(event.get("n")))
"""

DIES_ONCE = """
import os, time
def handler(event, context):
    marker = event["marker"]
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(30)  # killed here by the test
    return "second time lucky"
"""


def tail(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_snapstart_configuration_and_restored_invocations(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True) as env:
            bad = await env_error(env, "CreateFunction", **create_params("x", SnapStart={"ApplyOn": "Always"}))
            assert bad.code == "ValidationException"
            await env.call("CreateFunction", **create_params("snap", SNAP, SnapStart={"ApplyOn": "PublishedVersions"}))
            latest = await env.call("GetFunctionConfiguration", FunctionName="snap")
            assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
            published = await env.call("PublishVersion", FunctionName="snap")
            assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
            version = await env.call("GetFunctionConfiguration", FunctionName="snap", Qualifier="1")
            assert version["SnapStart"]["OptimizationStatus"] == "On"
            first = await env.call("Invoke", FunctionName="snap", Qualifier="1", LogType="Tail")
            body = json.loads(first["Payload"])
            assert body["hooks"] == ["before", "after"] and body["init"] == "snap-start"
            assert "\tRestore Duration: " in tail(first) and "Init Duration" not in tail(first)
            on_latest = await env.call("Invoke", FunctionName="snap", LogType="Tail")
            assert json.loads(on_latest["Payload"])["hooks"] == [] and "\tInit Duration: " in tail(on_latest)
            off = await env.call("UpdateFunctionConfiguration", FunctionName="snap", SnapStart={"ApplyOn": "None"})
            assert off["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}

    asyncio.run(main())


async def env_error(env: Any, operation: str, **params: Any) -> ServiceError:
    try:
        await env.call(operation, **params)
    except ServiceError as exc:
        return exc
    raise AssertionError(f"{operation} did not fail")


def test_provisioned_concurrency_configs(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True) as env:
            await env.call("CreateFunction", **create_params("pc", SLEEPY))
            await env.call("PublishVersion", FunctionName="pc")
            await env.call("CreateAlias", FunctionName="pc", Name="live", FunctionVersion="1")
            latest = await env_error(env, "PutProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="$LATEST",
                                     ProvisionedConcurrentExecutions=1)  # fmt: skip
            assert latest.code == "InvalidParameterValueException"
            assert "unpublished function versions" in latest.message
            missing = await env_error(env, "GetProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="1")
            assert missing.code == "ProvisionedConcurrencyConfigNotFoundException" and missing.status == 404
            put = await env.call("PutProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="1",
                                 ProvisionedConcurrentExecutions=2)  # fmt: skip
            assert put["RequestedProvisionedConcurrentExecutions"] == 2
            assert put["Status"] in ("IN_PROGRESS", "READY")

            async def ready() -> bool:
                got = await env.call("GetProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="1")
                return bool(got["Status"] == "READY" and got["AvailableProvisionedConcurrentExecutions"] == 2)

            await wait_for(ready)
            listed = await env.call("ListProvisionedConcurrencyConfigs", FunctionName="pc")
            [item] = listed["ProvisionedConcurrencyConfigs"]
            assert item["FunctionArn"] == f"{ARN}:pc:1" and item["Status"] == "READY"
            invoked = await env.call("Invoke", FunctionName="pc", Qualifier="live", LogType="Tail")
            assert json.loads(invoked["Payload"])["init"] == "provisioned-concurrency"
            assert "Init Duration" not in tail(invoked)
            await env.call("PutFunctionConcurrency", FunctionName="pc", ReservedConcurrentExecutions=1)
            too_many = await env_error(env, "PutProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="live",
                                       ProvisionedConcurrentExecutions=2)  # fmt: skip
            assert too_many.code == "InvalidParameterValueException"
            await env.call("DeleteFunctionConcurrency", FunctionName="pc")
            await env.call("DeleteProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="1")
            gone = await env_error(env, "GetProvisionedConcurrencyConfig", FunctionName="pc", Qualifier="1")
            assert gone.code == "ProvisionedConcurrencyConfigNotFoundException"

    asyncio.run(main())


BIG = """
def handler(event, context):
    return "x" * event["size"]
"""


def test_payload_limits(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True) as env:
            await env.call("CreateFunction", **create_params("big", BIG))
            near = await env.call("Invoke", FunctionName="big", Payload=b'{"size": 6000000}')
            assert "FunctionError" not in near and len(near["Payload"]) == 6000002
            over = await env.call("Invoke", FunctionName="big", Payload=b'{"size": 6300000}')
            assert over["FunctionError"] == "Unhandled"
            assert json.loads(over["Payload"]) == {
                "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            request = b'{"size": 1, "pad": "' + b"p" * 6291456 + b'"}'
            too_big = await env_error(env, "Invoke", FunctionName="big", Payload=request)
            assert (too_big.code, too_big.status) == ("RequestTooLargeException", 413)
            event = b'{"size": 1, "pad": "' + b"p" * 1048576 + b'"}'
            too_big = await env_error(env, "Invoke", FunctionName="big", InvocationType="Event", Payload=event)
            assert (too_big.code, too_big.status) == ("RequestTooLargeException", 413)

    asyncio.run(main())


def test_64_concurrent_invokes_with_reserved_concurrency_4(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True, retry_delays=(0.05,)) as env:
            engine = env.provider.engine
            assert engine is not None
            engine.max_workers = 64
            await env.call("CreateFunction", **create_params("burst", SLEEPY))
            await env.call("PutFunctionConcurrency", FunctionName="burst", ReservedConcurrentExecutions=4)
            payload = json.dumps({"sleep": 0.3}).encode()
            outcomes = await asyncio.gather(
                *(env.call("Invoke", FunctionName="burst", Payload=payload) for _ in range(64)), return_exceptions=True
            )
            done = [o for o in outcomes if isinstance(o, dict)]
            throttled = [o for o in outcomes if isinstance(o, ServiceError)]
            assert len(done) == 4 and len(throttled) == 60
            assert {t.code for t in throttled} == {"TooManyRequestsException"}
            assert {t.fields["Reason"] for t in throttled} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
            assert len({json.loads(d["Payload"])["pid"] for d in done}) == 4
            accepted = await asyncio.gather(
                *(env.call("Invoke", FunctionName="burst", InvocationType="Event", Payload=b'{"sleep": 0.05}')
                  for _ in range(64))
            )
            assert {a["StatusCode"] for a in accepted} == {202}

            async def drained() -> bool:
                return await env.provider.store.pending_count() == 0

            await wait_for(drained)
            stats = engine.statistics()
            assert stats["workers"] == 4 and stats["throttles"] >= 60

    asyncio.run(main())


def test_destinations_and_dead_letter_queue(tmp_path: Path) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    async def fake_call(service: str, operation: str, params: dict[str, Any], **where: Any) -> dict[str, Any]:
        assert where == {"region": REGION, "account_id": ACCOUNT}
        calls.append((service, operation, params))
        if operation == "GetQueueUrl":
            return {"QueueUrl": f"http://localhost/{ACCOUNT}/{params['QueueName']}"}
        return {}

    sink = tmp_path / "sink.jsonl"

    async def main() -> None:
        async with environment(tmp_path, engine=True, retry_delays=(0.05, 0.05), call=fake_call) as env:
            await env.call("CreateFunction", **create_params("sink", RECORDER, Environment={"Variables": {"SINK": str(sink)}}))
            await env.call("CreateFunction", **create_params("ok"))
            await env.call("CreateFunction", **create_params(
                "bad", FAILS, DeadLetterConfig={"TargetArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:dead-letters"}))  # fmt: skip
            await env.call("PutFunctionEventInvokeConfig", FunctionName="ok",
                           DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:sink"}})  # fmt: skip
            await env.call("PutFunctionEventInvokeConfig", FunctionName="bad", MaximumRetryAttempts=1,
                           DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"}})  # fmt: skip
            await env.call("Invoke", FunctionName="ok", InvocationType="Event", Payload=b'{"n": 1}')
            await env.call("Invoke", FunctionName="bad", InvocationType="Event", Payload=b'{"n": 2}')

            async def delivered() -> bool:
                return sink.exists() and len(calls) >= 3 and await env.provider.outbox.pending() == 0

            await wait_for(delivered)

    asyncio.run(main())
    [success] = [json.loads(line) for line in sink.read_text().splitlines()]
    assert success["version"] == "1.0" and success["timestamp"].endswith("Z")
    assert success["requestContext"]["condition"] == "Success"
    assert success["requestContext"]["functionArn"] == f"{ARN}:ok:$LATEST"
    assert success["requestContext"]["approximateInvokeCount"] == 1
    assert success["requestPayload"] == {"n": 1}
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert success["responsePayload"]["echo"] == {"n": 1}
    by_op = {op: params for _, op, params in calls}
    assert by_op["GetQueueUrl"] == {"QueueName": "failures", "QueueOwnerAWSAccountId": ACCOUNT}
    failure = json.loads(by_op["SendMessage"]["MessageBody"])
    assert by_op["SendMessage"]["QueueUrl"].endswith("/failures")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["responsePayload"]["errorMessage"] == "always 2"
    dead = by_op["Publish"]
    assert dead["TopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:dead-letters"
    assert json.loads(dead["Message"]) == {"n": 2}
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "always 2"
    assert dead["MessageAttributes"]["RequestID"]["DataType"] == "String"


def test_worker_killed_mid_async_invocation_is_retried(tmp_path: Path) -> None:
    marker = tmp_path / "pid.txt"

    async def main() -> None:
        async with environment(tmp_path, engine=True, retry_delays=(0.05, 0.05)) as env:
            await env.call("CreateFunction", **create_params("dies", DIES_ONCE, Timeout=60))
            accepted = await env.call("Invoke", FunctionName="dies", InvocationType="Event",
                                      Payload=json.dumps({"marker": str(marker)}).encode())  # fmt: skip
            assert accepted["StatusCode"] == 202
            deadline = time.monotonic() + 10
            while not (marker.exists() and marker.read_text()):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            os.kill(int(marker.read_text()), signal.SIGKILL)

            async def done() -> bool:
                return await env.provider.store.pending_count() == 0

            await wait_for(done)
            rows = await env.provider.db.fetchall("SELECT condition, attempts, response FROM async_outcomes")
            [(condition, attempts, response)] = [tuple(r) for r in rows]
            assert condition == "Success" and attempts == 2 and json.loads(response) == "second time lucky"

    asyncio.run(main())


def test_server_killed_during_async_load_loses_no_accepted_event(start_server: Callable[..., ServerProcess],
                                                                 tmp_path: Path) -> None:  # fmt: skip
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    client = server.client("lambda")
    name = unique("load")
    create(client, name)
    marker = tmp_path / "ran.txt"
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def fire(_: int) -> None:
        if stop.is_set():
            return
        try:
            response = client.invoke(FunctionName=name, InvocationType="Event",
                                      Payload=json.dumps({"touch": str(marker)}))  # fmt: skip
        except Exception:
            return
        if response["StatusCode"] == 202:
            with lock:
                accepted.append(response["ResponseMetadata"]["RequestId"])

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(fire, i) for i in range(200)]
        while len(accepted) < 40:
            time.sleep(0.005)
        server.kill9()
        stop.set()
        for future in futures:
            future.result()
    assert len(accepted) >= 40
    restarted = start_server(data_dir)
    del restarted

    def all_ran() -> bool:
        ran = set(marker.read_text().split()) if marker.exists() else set()
        return set(accepted) <= ran

    wait_until(all_ran, timeout=60)


def test_destinations_reach_real_sqs_and_sns_through_the_hub(tmp_path: Path) -> None:
    """The provider built as the hub builds it (``call=hub.call``) delivers to the real SQS and SNS providers."""
    from tests.integration.services.lambda_.test_lambda_provider import make_zip

    from cloudlet.config import Settings
    from cloudlet.services.hub import ServiceHub
    from cloudlet.services.lambda_ import LambdaProvider

    async def main() -> None:
        hub = ServiceHub(Settings(data_dir=tmp_path / "data"))
        if "sqs" not in hub.providers or "sns" not in hub.providers:
            pytest.skip("SQS or SNS provider not available")
        current = hub.providers["lambda"]
        hub.providers["lambda"] = LambdaProvider(current.db, hub.blobs, hub.engine, hub.logs_store,
                                                 retry_delays=(0.05,), call=hub.call)  # fmt: skip
        await hub.start()
        try:
            async def aws(service: str, operation: str, **params: Any) -> dict[str, Any]:
                return await hub.call(service, operation, params, region=REGION, account_id=ACCOUNT)

            failures = (await aws("sqs", "CreateQueue", QueueName="failures"))["QueueUrl"]
            letters = (await aws("sqs", "CreateQueue", QueueName="letters"))["QueueUrl"]
            topic = (await aws("sns", "CreateTopic", Name="dead"))["TopicArn"]
            await aws("sns", "Subscribe", TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:letters",
                      Attributes={"RawMessageDelivery": "true"})  # fmt: skip
            await aws("lambda", "CreateFunction", FunctionName="bad", Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT}:role/r",
                      Handler="app.handler", Code={"ZipFile": make_zip({"app.py": FAILS})},
                      DeadLetterConfig={"TargetArn": topic})  # fmt: skip
            await aws("lambda", "PutFunctionEventInvokeConfig", FunctionName="bad", MaximumRetryAttempts=0,
                      DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"}})  # fmt: skip
            await aws("lambda", "Invoke", FunctionName="bad", InvocationType="Event", Payload=b'{"n": 5}')
            bodies = []
            for url in (failures, letters):
                for _ in range(200):
                    got = (await aws("sqs", "ReceiveMessage", QueueUrl=url)).get("Messages")
                    if got:
                        bodies.append(got[0]["Body"])
                        break
                    await asyncio.sleep(0.05)
            assert len(bodies) == 2
            failure = json.loads(bodies[0])
            assert failure["requestContext"]["condition"] == "RetriesExhausted"
            assert failure["responsePayload"]["errorMessage"] == "always 5"
            assert json.loads(bodies[1]) == {"n": 5}
        finally:
            await hub.stop()

    asyncio.run(main())
