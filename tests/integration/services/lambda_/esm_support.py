"""In-process harness for event source mapping tests.

``esm_hub(root)`` builds a real ``ServiceHub`` (real SQLite, blob store,
engine, SQS and DynamoDB providers) whose Lambda provider is replaced by
``EsmLambdaProvider`` — ``LambdaProvider`` with the event source mapping mixin —
wired to ``hub.call`` as the lead wires it in ``lambda_/provider.py``.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cloudlet.config import Settings
from cloudlet.engine import Engine
from cloudlet.services.hub import ServiceHub, provider_factory
from cloudlet.services.lambda_ import MIGRATIONS, LambdaProvider
from cloudlet.services.logs import MIGRATIONS as LOGS_MIGRATIONS
from cloudlet.services.logs import LogsProvider, LogsStore
from cloudlet.storage import BlobStore, Database

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

#: Appends each event to $OUT; SQS bodies/DynamoDB "Msg" values steer the outcome:
#: "boom" raises, "fail" is reported as a batch item failure.
HANDLER = """
import json, os
def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\\n")
    failures = []
    for record in event["Records"]:
        if record.get("eventSource") == "aws:sqs":
            text, ident = record["body"], record["messageId"]
        else:
            image = record["dynamodb"].get("NewImage") or {}
            text, ident = image.get("Msg", {}).get("S", ""), record["dynamodb"]["SequenceNumber"]
        if "boom" in text:
            raise ValueError("boom")
        if "fail" in text:
            failures.append({"itemIdentifier": ident})
    return {"batchItemFailures": failures}
"""


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def function_params(name: str, out: Path, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip({"app.py": HANDLER})},
        "Environment": {"Variables": {"OUT": str(out)}},
        "Timeout": 10,
    }
    params.update(extra)
    return params


def read_events(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def records_of(out: Path) -> list[dict[str, Any]]:
    return [record for event in read_events(out) for record in event["Records"]]


#: The provider has the event source mapping mixin (and starts/stops its pollers) itself.
EsmLambdaProvider = LambdaProvider


class Hub:
    def __init__(self, hub: ServiceHub, provider: EsmLambdaProvider) -> None:
        self.hub = hub
        self.lambda_ = provider

    async def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        return await self.hub.call(service, operation, params, region=REGION, account_id=ACCOUNT)

    async def esm(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self.call("lambda", operation, **params)


def providers_available() -> str | None:
    """Why the in-process end-to-end tests cannot run, or None."""
    try:
        import cloudlet.services.dynamodb
        import cloudlet.services.sqs  # noqa: F401
        from cloudlet.engine import Engine  # noqa: F401
    except ImportError as exc:
        return f"SQS/DynamoDB provider or engine not importable: {exc}"
    return None


class MiniHub(ServiceHub):
    """``ServiceHub`` with only the services these tests use (others may be mid-change)."""

    def __init__(self, settings: Settings, *, engine: bool = True) -> None:
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.root = root
        self.databases: list[Database] = []
        self.blobs = BlobStore(root / "blobs")
        self.engine: Any = (
            Engine(
                root / "engine", keep_warm_s=settings.keep_warm, max_workers=settings.max_workers
            )
            if engine
            else None
        )
        self.data_planes = {}
        self.logs_store = LogsStore(self.database("logs", LOGS_MIGRATIONS))
        self.lambda_provider = EsmLambdaProvider(
            self.database("lambda", MIGRATIONS),
            self.blobs,
            self.engine,
            self.logs_store,
        )
        self.providers: dict[str, Any] = {
            "logs": LogsProvider(self.logs_store),
            "lambda": self.lambda_provider,
        }
        for service in ("sqs", "sns", "dynamodb", "dynamodbstreams"):
            factory = provider_factory(service)
            if factory is not None and service not in self.providers:
                self.providers[service] = factory(self)

    async def start(self) -> None:
        for db in self.databases:
            await db.open()
        if self.engine is not None:
            await self.engine.start()
        for provider in self.providers.values():
            await provider.start()

    async def stop(self) -> None:
        for provider in reversed(self.providers.values()):
            await provider.stop()
        if self.engine is not None:
            await self.engine.stop()
        for db in reversed(self.databases):
            await db.close()


@asynccontextmanager
async def esm_hub(root: Path, *, engine: bool = True, **intervals: Any) -> AsyncIterator[Hub]:
    """A started hub; ``engine=False`` for control-plane tests (no invocations, faster start)."""
    settings = Settings(data_dir=root, keep_warm=30, max_workers=8)
    hub = MiniHub(settings, engine=engine)
    provider = hub.lambda_provider
    provider.configure_event_source_mappings(call=hub.call, **intervals)
    await hub.start()
    try:
        yield Hub(hub, provider)
    finally:
        await hub.stop()


async def wait_for(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 20.0,
    interval: float = 0.05,
) -> None:
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
