"""LambdaProvider driven in-process: real SQLite, real blob store, real logs store.

The control-plane tests need no engine (``engine=None``); the invoke tests run
real workers through ``cloudlet.engine.Engine``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.lambda_ import MIGRATIONS, LambdaProvider
from cloudlet.services.logs import MIGRATIONS as LOGS_MIGRATIONS
from cloudlet.services.logs import LogsStore
from cloudlet.storage import BlobStore, Database

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"

HANDLER_OK = """
import json, os
def handler(event, context):
    print("got", json.dumps(event))
    if isinstance(event, dict) and event.get("touch"):
        with open(event["touch"], "a") as f:
            f.write(context.aws_request_id + "\\n")
    return {"echo": event, "version": context.function_version, "env": os.environ.get("GREETING")}
"""

HANDLER_FAIL = """
def handler(event, context):
    if isinstance(event, dict) and event.get("touch"):
        with open(event["touch"], "a") as f:
            f.write(context.aws_request_id + "\\n")
    raise ValueError("boom")
"""


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def ctx(operation: str = "Test") -> RequestContext:
    return RequestContext(
        request_id=str(uuid.uuid4()),
        service="lambda",
        operation=operation,
        region=REGION,
        account_id=ACCOUNT,
        access_key_id="test",
        endpoint="http://127.0.0.1:4566",
    )


def create_params(name: str, code: str = HANDLER_OK, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip({"app.py": code})},
    }
    params.update(extra)
    return params


class Env:
    def __init__(self, provider: LambdaProvider, logs: LogsStore, root: Path) -> None:
        self.provider = provider
        self.logs = logs
        self.root = root

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method: Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]
        method = getattr(self.provider, operation)
        return await method(ctx(operation), params)

    async def error(self, operation: str, **params: Any) -> ServiceError:
        with pytest.raises(ServiceError) as info:
            await self.call(operation, **params)
        return info.value


@asynccontextmanager
async def environment(
    root: Path, *, engine: bool = False, start: bool = True, **kwargs: Any
) -> AsyncIterator[Env]:
    db = Database(root / "lambda.db", MIGRATIONS)
    logs_db = Database(root / "logs.db", LOGS_MIGRATIONS)
    await db.open()
    await logs_db.open()
    blobs = BlobStore(root / "blobs")
    logs = LogsStore(logs_db)
    real_engine: Any = None
    if engine:
        from cloudlet.engine import Engine

        real_engine = Engine(root / "engine", keep_warm_s=30, max_workers=8)
        await real_engine.start()
    provider = LambdaProvider(db, blobs, real_engine, logs, **kwargs)
    if start:
        await provider.start()
    try:
        yield Env(provider, logs, root)
    finally:
        await provider.stop()
        if real_engine is not None:
            await real_engine.stop()
        await db.close()
        await logs_db.close()


def engine_available() -> bool:
    try:
        from cloudlet.engine import Engine  # noqa: F401
    except ImportError:
        return False
    return True


needs_engine = pytest.mark.skipif(
    not engine_available(), reason="cloudlet.engine.Engine not importable"
)


# -- functions -------------------------------------------------------------------------


def test_create_get_list_delete(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            created = await env.call("CreateFunction", **create_params("fn-a", Description="first"))
            assert created["FunctionArn"] == f"{ARN}:fn-a"
            assert created["Version"] == "$LATEST"
            assert created["State"] == "Active"
            assert created["LastUpdateStatus"] == "Successful"
            assert created["Timeout"] == 3 and created["MemorySize"] == 128
            assert created["PackageType"] == "Zip"
            assert created["Architectures"] == ["x86_64"]
            assert created["Description"] == "first"
            assert len(base64.b64decode(created["CodeSha256"])) == 32
            assert created["LastModified"].endswith("+0000") and "." in created["LastModified"]
            uuid.UUID(created["RevisionId"])

            got = await env.call("GetFunction", FunctionName="fn-a")
            assert got["Configuration"] == created
            assert got["Code"]["RepositoryType"] == "S3"
            location = got["Code"]["Location"]
            assert location.startswith("http://127.0.0.1:4566/_cloudlet/lambda/code/")
            token = location.rsplit("/", 1)[1]
            zipped = env.provider.code_download(token)
            assert zipped is not None
            assert zipfile.ZipFile(io.BytesIO(zipped)).read("app.py").decode() == HANDLER_OK
            assert (
                env.provider.code_download(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
            )

            # Every accepted form of the name finds the function.
            for name in ("fn-a", f"{ARN}:fn-a", f"{ACCOUNT}:function:fn-a", "fn-a:$LATEST"):
                config = await env.call("GetFunctionConfiguration", FunctionName=name)
                assert config["FunctionName"] == "fn-a"

            err = await env.error("CreateFunction", **create_params("fn-a"))
            assert (err.code, err.status) == ("ResourceConflictException", 409)
            assert err.message == "Function already exist: fn-a"

            for n in range(5):
                await env.call("CreateFunction", **create_params(f"fn-b{n}"))
            first = await env.call("ListFunctions", MaxItems=4)
            assert [f["FunctionName"] for f in first["Functions"]] == [
                "fn-a",
                "fn-b0",
                "fn-b1",
                "fn-b2",
            ]
            second = await env.call("ListFunctions", MaxItems=4, Marker=first["NextMarker"])
            assert [f["FunctionName"] for f in second["Functions"]] == ["fn-b3", "fn-b4"]
            assert "NextMarker" not in second

            assert await env.call("DeleteFunction", FunctionName="fn-a") == {}
            err = await env.error("GetFunction", FunctionName="fn-a")
            assert (err.code, err.status) == ("ResourceNotFoundException", 404)
            assert err.message == f"Function not found: {ARN}:fn-a"
            err = await env.error("DeleteFunction", FunctionName="fn-a")
            assert err.code == "ResourceNotFoundException"

    asyncio.run(main())


def test_create_rejects_bad_input(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            err = await env.error("CreateFunction", **create_params("f", Runtime="nodejs20.x"))
            assert err.code == "InvalidParameterValueException"
            assert "python3.12" in err.message and "nodejs20.x" in err.message

            err = await env.error("CreateFunction", **create_params("f", PackageType="Image"))
            assert err.code == "InvalidParameterValueException"

            bad_zip = create_params("f")
            bad_zip["Code"] = {"ZipFile": b"this is not a zip"}
            err = await env.error("CreateFunction", **bad_zip)
            assert err.code == "InvalidParameterValueException"
            assert err.message == (
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            )

            huge = create_params("f")
            huge["Code"] = {"ZipFile": b"\0" * (50 * 1024 * 1024 + 1)}
            err = await env.error("CreateFunction", **huge)
            assert (err.code, err.status) == ("RequestEntityTooLargeException", 413)

            s3 = create_params("f")
            s3["Code"] = {"S3Bucket": "b", "S3Key": "k.zip"}
            err = await env.error("CreateFunction", **s3)
            assert err.code == "InvalidParameterValueException" and "S3" in err.message

            err = await env.error("CreateFunction", **create_params("f", Role="not-a-role"))
            assert err.code == "ValidationException"
            err = await env.error("CreateFunction", **create_params("f", Timeout=901))
            assert err.code == "ValidationException" and "900" in err.message
            err = await env.error("CreateFunction", **create_params("f", MemorySize=10241))
            assert err.code == "InvalidParameterValueException"

            reserved = create_params("f", Environment={"Variables": {"AWS_REGION": "x"}})
            err = await env.error("CreateFunction", **reserved)
            assert err.code == "InvalidParameterValueException" and "AWS_REGION" in err.message
            big_env = create_params("f", Environment={"Variables": {"BIG": "x" * 4100}})
            err = await env.error("CreateFunction", **big_env)
            assert err.code == "InvalidParameterValueException" and "4KB" in err.message

            # Nothing above created the function.
            listed = await env.call("ListFunctions")
            assert listed["Functions"] == []

    asyncio.run(main())


def test_unzipped_limit_and_code_url_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("big.bin", "w", force_zip64=True) as member,
    ):
        chunk = b"\0" * (1024 * 1024)
        for _ in range(251):
            member.write(chunk)
    inflated = buffer.getvalue()
    assert len(inflated) < 50 * 1024 * 1024

    async def main() -> str:
        async with environment(tmp_path) as env:
            params = create_params("big")
            params["Code"] = {"ZipFile": inflated}
            err = await env.error("CreateFunction", **params)
            assert err.code == "InvalidParameterValueException"
            assert err.message == "Unzipped size must be smaller than 262144000 bytes"
            await env.call("CreateFunction", **create_params("fn"))
            got = await env.call("GetFunction", FunctionName="fn")
            return str(got["Code"]["Location"]).rsplit("/", 1)[1]

    token = asyncio.run(main())
    db = Database(tmp_path / "lambda.db", MIGRATIONS)
    provider = LambdaProvider(db, BlobStore(tmp_path / "blobs"), None, None)
    assert provider.code_download(token) is not None
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    assert provider.code_download(token) is None


def test_update_code_and_configuration(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            created = await env.call("CreateFunction", **create_params("fn"))
            new_zip = make_zip({"app.py": HANDLER_FAIL})

            dry = await env.call(
                "UpdateFunctionCode", FunctionName="fn", ZipFile=new_zip, DryRun=True
            )
            assert dry["CodeSha256"] != created["CodeSha256"]
            unchanged = await env.call("GetFunctionConfiguration", FunctionName="fn")
            assert unchanged["CodeSha256"] == created["CodeSha256"]

            err = await env.error(
                "UpdateFunctionCode",
                FunctionName="fn",
                ZipFile=new_zip,
                RevisionId=str(uuid.uuid4()),
            )
            assert (err.code, err.status) == ("PreconditionFailedException", 412)

            updated = await env.call(
                "UpdateFunctionCode",
                FunctionName="fn",
                ZipFile=new_zip,
                RevisionId=created["RevisionId"],
            )
            assert updated["CodeSha256"] == dry["CodeSha256"]
            assert updated["RevisionId"] != created["RevisionId"]

            configured = await env.call(
                "UpdateFunctionConfiguration",
                FunctionName="fn",
                Timeout=30,
                MemorySize=512,
                Environment={"Variables": {"GREETING": "hi"}},
                Description="changed",
            )
            assert configured["Timeout"] == 30 and configured["MemorySize"] == 512
            assert configured["Environment"] == {"Variables": {"GREETING": "hi"}}
            assert configured["Description"] == "changed"
            assert configured["CodeSha256"] == updated["CodeSha256"]

            err = await env.error("UpdateFunctionConfiguration", FunctionName="nope", Timeout=5)
            assert err.code == "ResourceNotFoundException"

    asyncio.run(main())


def test_versions_and_aliases(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            await env.call("CreateFunction", **create_params("fn"))
            v1 = await env.call("PublishVersion", FunctionName="fn", Description="one")
            assert v1["Version"] == "1" and v1["FunctionArn"] == f"{ARN}:fn:1"
            assert v1["Description"] == "one"
            again = await env.call("PublishVersion", FunctionName="fn")
            assert again["Version"] == "1"  # nothing changed since the last publish

            await env.call("UpdateFunctionConfiguration", FunctionName="fn", Timeout=10)
            v2 = await env.call("PublishVersion", FunctionName="fn")
            assert v2["Version"] == "2" and v2["Timeout"] == 10
            got_v1 = await env.call("GetFunctionConfiguration", FunctionName="fn", Qualifier="1")
            assert got_v1["Timeout"] == 3

            versions = await env.call("ListVersionsByFunction", FunctionName="fn")
            assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1", "2"]
            everything = await env.call("ListFunctions", FunctionVersion="ALL")
            assert [f["Version"] for f in everything["Functions"]] == ["$LATEST", "1", "2"]

            err = await env.error("PublishVersion", FunctionName="fn", RevisionId="stale")
            assert err.code == "PreconditionFailedException"

            alias = await env.call(
                "CreateAlias",
                FunctionName="fn",
                Name="live",
                FunctionVersion="1",
                Description="prod",
                RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
            )
            assert alias["AliasArn"] == f"{ARN}:fn:live"
            assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
            err = await env.error(
                "CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1"
            )
            assert err.code == "ResourceConflictException"
            err = await env.error("CreateAlias", FunctionName="fn", Name="x", FunctionVersion="9")
            assert err.code == "ResourceNotFoundException"

            via_alias = await env.call("GetFunctionConfiguration", FunctionName="fn:live")
            assert via_alias["Version"] == "1"

            err = await env.error("UpdateAlias", FunctionName="fn", Name="live", RevisionId="stale")
            assert err.code == "PreconditionFailedException"
            updated = await env.call(
                "UpdateAlias", FunctionName="fn", Name="live", FunctionVersion="2", RoutingConfig={}
            )
            assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated
            assert updated["RevisionId"] != alias["RevisionId"]
            await env.call("CreateAlias", FunctionName="fn", Name="dev", FunctionVersion="$LATEST")
            listed = await env.call("ListAliases", FunctionName="fn")
            assert [a["Name"] for a in listed["Aliases"]] == ["dev", "live"]
            only_v2 = await env.call("ListAliases", FunctionName="fn", FunctionVersion="2")
            assert [a["Name"] for a in only_v2["Aliases"]] == ["live"]

            err = await env.error("DeleteFunction", FunctionName="fn", Qualifier="2")
            assert err.code == "ResourceConflictException"
            err = await env.error("DeleteFunction", FunctionName="fn", Qualifier="$LATEST")
            assert err.code == "InvalidParameterValueException"
            await env.call("DeleteFunction", FunctionName="fn", Qualifier="1")
            err = await env.error("GetFunction", FunctionName="fn", Qualifier="1")
            assert err.message == f"Function not found: {ARN}:fn:1"

            await env.call("DeleteAlias", FunctionName="fn", Name="live")
            err = await env.error("GetAlias", FunctionName="fn", Name="live")
            assert err.code == "ResourceNotFoundException"
            assert err.message == f"Alias not found: {ARN}:fn:live"
            v3 = await env.call("PublishVersion", FunctionName="fn")
            assert v3["Version"] == "2"  # $LATEST unchanged since version 2
            await env.call("UpdateFunctionConfiguration", FunctionName="fn", Timeout=11)
            v3 = await env.call("PublishVersion", FunctionName="fn")
            assert v3["Version"] == "3"  # numbers are never reused

    asyncio.run(main())


def test_concurrency_tags_policy_and_settings(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            await env.call("CreateFunction", **create_params("fn", Tags={"team": "a"}))
            assert await env.call("GetFunctionConcurrency", FunctionName="fn") == {}
            put = await env.call(
                "PutFunctionConcurrency", FunctionName="fn", ReservedConcurrentExecutions=10
            )
            assert put == {"ReservedConcurrentExecutions": 10}
            got = await env.call("GetFunction", FunctionName="fn")
            assert got["Concurrency"] == {"ReservedConcurrentExecutions": 10}
            assert got["Tags"] == {"team": "a"}
            err = await env.error(
                "PutFunctionConcurrency", FunctionName="fn", ReservedConcurrentExecutions=901
            )
            assert err.code == "InvalidParameterValueException"
            settings = await env.call("GetAccountSettings")
            assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
            assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 990
            assert settings["AccountUsage"]["FunctionCount"] == 1
            await env.call("DeleteFunctionConcurrency", FunctionName="fn")
            assert await env.call("GetFunctionConcurrency", FunctionName="fn") == {}

            await env.call("TagResource", Resource=f"{ARN}:fn", Tags={"env": "dev", "team": "b"})
            assert (await env.call("ListTags", Resource=f"{ARN}:fn"))["Tags"] == {
                "env": "dev",
                "team": "b",
            }
            await env.call("UntagResource", Resource=f"{ARN}:fn", TagKeys=["team"])
            assert (await env.call("ListTags", Resource=f"{ARN}:fn"))["Tags"] == {"env": "dev"}
            err = await env.error("ListTags", Resource=f"{ARN}:missing")
            assert err.code == "ResourceNotFoundException"

            err = await env.error("GetPolicy", FunctionName="fn")
            assert err.code == "ResourceNotFoundException"
            added = await env.call(
                "AddPermission",
                FunctionName="fn",
                StatementId="s3-invoke",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn="arn:aws:s3:::bucket",
                SourceAccount=ACCOUNT,
            )
            statement = json.loads(added["Statement"])
            assert statement == {
                "Sid": "s3-invoke",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": f"{ARN}:fn",
                "Condition": {
                    "StringEquals": {"AWS:SourceAccount": ACCOUNT},
                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
                },
            }
            err = await env.error(
                "AddPermission",
                FunctionName="fn",
                StatementId="s3-invoke",
                Action="lambda:InvokeFunction",
                Principal="123456789012",
            )
            assert err.code == "ResourceConflictException"
            policy = await env.call("GetPolicy", FunctionName="fn")
            document = json.loads(policy["Policy"])
            assert document["Version"] == "2012-10-17"
            assert document["Statement"] == [statement]
            await env.call("RemovePermission", FunctionName="fn", StatementId="s3-invoke")
            err = await env.error("RemovePermission", FunctionName="fn", StatementId="s3-invoke")
            assert err.code == "ResourceNotFoundException"

    asyncio.run(main())


def test_event_invoke_configs(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            await env.call("CreateFunction", **create_params("fn"))
            err = await env.error("GetFunctionEventInvokeConfig", FunctionName="fn")
            assert err.code == "ResourceNotFoundException"
            put = await env.call(
                "PutFunctionEventInvokeConfig", FunctionName="fn", MaximumRetryAttempts=1
            )
            assert put["FunctionArn"] == f"{ARN}:fn:$LATEST"
            assert put["MaximumRetryAttempts"] == 1
            assert "MaximumEventAgeInSeconds" not in put
            updated = await env.call(
                "UpdateFunctionEventInvokeConfig", FunctionName="fn", MaximumEventAgeInSeconds=120
            )
            assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (
                1,
                120,
            )
            replaced = await env.call(
                "PutFunctionEventInvokeConfig", FunctionName="fn", MaximumEventAgeInSeconds=60
            )
            assert "MaximumRetryAttempts" not in replaced
            listed = await env.call("ListFunctionEventInvokeConfigs", FunctionName="fn")
            assert len(listed["FunctionEventInvokeConfigs"]) == 1
            err = await env.error(
                "PutFunctionEventInvokeConfig", FunctionName="fn", MaximumRetryAttempts=3
            )
            assert err.code == "ValidationException"
            await env.call("DeleteFunctionEventInvokeConfig", FunctionName="fn")
            err = await env.error("GetFunctionEventInvokeConfig", FunctionName="fn")
            assert err.code == "ResourceNotFoundException"

    asyncio.run(main())


def test_invoke_validation_without_running(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path) as env:
            await env.call("CreateFunction", **create_params("fn"))
            err = await env.error("Invoke", FunctionName="fn", Payload=b"{not json")
            assert (err.code, err.status) == ("InvalidRequestContentException", 400)
            assert err.message.startswith("Could not parse request body into json")
            big = b'"' + b"x" * 6291456 + b'"'
            err = await env.error("Invoke", FunctionName="fn", Payload=big)
            assert (err.code, err.status) == ("RequestTooLargeException", 413)
            assert err.message == (
                f"{len(big)} byte payload is too large for the RequestResponse invocation type "
                "(limit 6291456 bytes)"
            )
            big_async = b'"' + b"x" * 1048576 + b'"'
            err = await env.error(
                "Invoke", FunctionName="fn", Payload=big_async, InvocationType="Event"
            )
            assert err.status == 413 and "Event invocation type" in err.message
            dry = await env.call("Invoke", FunctionName="fn", InvocationType="DryRun")
            assert dry["StatusCode"] == 204
            err = await env.error("Invoke", FunctionName="missing")
            assert err.message == f"Function not found: {ARN}:missing"
            err = await env.error("Invoke", FunctionName="fn", Qualifier="7")
            assert err.message == f"Function not found: {ARN}:fn:7"
            err = await env.error("Invoke", FunctionName="fn:1", Qualifier="2")
            assert err.code == "InvalidParameterValueException"

            await env.call(
                "PutFunctionConcurrency", FunctionName="fn", ReservedConcurrentExecutions=0
            )
            err = await env.error("Invoke", FunctionName="fn")
            assert (err.code, err.status) == ("TooManyRequestsException", 429)
            assert err.fields["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            assert err.message == "Rate Exceeded."

    asyncio.run(main())


def test_event_queue_survives_restart(tmp_path: Path) -> None:
    """An accepted Event is in SQLite before 202; a new provider over the same files finds it."""

    async def enqueue() -> str:
        async with environment(tmp_path, start=False) as env:
            await env.call("CreateFunction", **create_params("fn"))
            accepted = await env.call(
                "Invoke", FunctionName="fn", InvocationType="Event", Payload=b'{"a": 1}'
            )
            assert accepted["StatusCode"] == 202
            assert await env.provider.store.pending_count() == 1
            return "ok"

    async def check() -> None:
        async with environment(tmp_path, start=False) as env:
            assert await env.provider.store.pending_count() == 1
            events = await env.provider.store.due_events(time.time(), set(), 10)
            assert events[0].payload == b'{"a": 1}'
            assert events[0].invoked_arn == f"{ARN}:fn"

    assert asyncio.run(enqueue()) == "ok"
    asyncio.run(check())


# -- invoking real code --------------------------------------------------------------------


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@needs_engine
def test_invoke_sync_versions_and_logs(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True) as env:
            await env.call(
                "CreateFunction",
                **create_params("fn", Environment={"Variables": {"GREETING": "v1"}}),
            )
            await env.call("PublishVersion", FunctionName="fn")
            await env.call(
                "UpdateFunctionConfiguration",
                FunctionName="fn",
                Environment={"Variables": {"GREETING": "v2"}},
            )
            await env.call("CreateAlias", FunctionName="fn", Name="live", FunctionVersion="1")

            result = await env.call(
                "Invoke", FunctionName="fn", Payload=b'{"x": 1}', LogType="Tail"
            )
            assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "$LATEST"
            assert "FunctionError" not in result
            body = json.loads(result["Payload"])
            assert body == {"echo": {"x": 1}, "version": "$LATEST", "env": "v2"}
            tail = base64.b64decode(result["LogResult"]).decode()
            assert "START RequestId:" in tail and "REPORT RequestId:" in tail and "got" in tail

            via_alias = await env.call("Invoke", FunctionName="fn", Qualifier="live")
            assert via_alias["ExecutedVersion"] == "1"
            assert json.loads(via_alias["Payload"])["env"] == "v1"

            streams = await env.logs.list_streams(REGION, ACCOUNT, "/aws/lambda/fn")
            assert streams, "the invocation's log stream exists when Invoke returns"

            await env.call(
                "UpdateFunctionCode", FunctionName="fn", ZipFile=make_zip({"app.py": HANDLER_FAIL})
            )
            failed = await env.call("Invoke", FunctionName="fn")
            assert failed["FunctionError"] == "Unhandled"
            error = json.loads(failed["Payload"])
            assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom"

    asyncio.run(main())


@needs_engine
def test_event_invoke_delivers_and_retries(tmp_path: Path) -> None:
    async def main() -> None:
        async with environment(tmp_path, engine=True, retry_delays=(0.05, 0.05)) as env:
            await env.call("CreateFunction", **create_params("ok"))
            await env.call("CreateFunction", **create_params("bad", code=HANDLER_FAIL))
            ok_file = tmp_path / "ok.txt"
            bad_file = tmp_path / "bad.txt"
            accepted = await env.call(
                "Invoke",
                FunctionName="ok",
                InvocationType="Event",
                Payload=json.dumps({"touch": str(ok_file)}).encode(),
            )
            assert accepted["StatusCode"] == 202
            await env.call(
                "Invoke",
                FunctionName="bad",
                InvocationType="Event",
                Payload=json.dumps({"touch": str(bad_file)}).encode(),
            )

            async def both_done() -> bool:
                return await env.provider.store.pending_count() == 0

            await wait_for(both_done)
            assert len(ok_file.read_text().split()) == 1
            attempts = bad_file.read_text().split()
            assert len(attempts) == 3 and len(set(attempts)) == 1  # 1 + 2 retries, same request id
            outcome = await env.provider.store.outcome(attempts[0])
            assert outcome is not None
            assert outcome["condition"] == "RetriesExhausted" and outcome["attempts"] == 3

    asyncio.run(main())


@needs_engine
def test_event_resumes_after_restart(tmp_path: Path) -> None:
    marker = tmp_path / "resumed.txt"

    async def enqueue() -> None:
        async with environment(tmp_path, start=False) as env:
            await env.call("CreateFunction", **create_params("fn"))
            await env.call(
                "Invoke",
                FunctionName="fn",
                InvocationType="Event",
                Payload=json.dumps({"touch": str(marker)}).encode(),
            )

    async def resume() -> None:
        async with environment(tmp_path, engine=True) as env:

            async def delivered() -> bool:
                return marker.exists() and await env.provider.store.pending_count() == 0

            await wait_for(delivered)

    asyncio.run(enqueue())
    assert not marker.exists()
    asyncio.run(resume())
    assert len(marker.read_text().split()) == 1
