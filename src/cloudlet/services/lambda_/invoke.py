"""Invoke: synchronous calls through the engine, and the durable async queue.

Sync (``RequestResponse``): resolve the version (an alias picks by its routing
weights), build the engine's ``FunctionSpec`` from the stored configuration,
run it, and write the invocation's log lines to CloudWatch Logs before
answering, so ``aws logs tail`` sees them as soon as ``Invoke`` returns.

Async (``Event``): the event is committed to ``async_events`` before the 202
goes out.  One dispatcher task (started by ``start()``, cancelled by
``stop()``) delivers due events, at most ``async_concurrency`` at a time; a
fresh event is handed to it straight from ``Invoke`` once committed, with
what its first attempt needs read in the same transaction, so it starts
without a further database read:

* success → outcome ``Success``;
* function error → retried after ``retry_delays[n]`` (AWS: ~1 and ~2 minutes)
  until ``MaximumRetryAttempts`` (default 2) is used up → ``RetriesExhausted``;
* throttle or an engine failure → back in the queue with exponential backoff
  (0.1 s doubling to 5 min; AWS starts at 1 s), not counted as an attempt;
* older than ``MaximumEventAgeInSeconds`` (default 6 h) → ``EventAgeExceeded``;
* function deleted meanwhile → ``FunctionNotFound``.

Each ending deletes the queue row and records the outcome in one transaction.
Delivery is at-least-once: an event being run when the server dies is run
again after the restart, with the same request id, as on AWS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import sqlite3
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.engine.types import FunctionSpec, InvokeRequest, InvokeResult, Throttled
from cloudlet.errors import ServiceError
from cloudlet.events import wait_for_wake
from cloudlet.services.lambda_ import store
from cloudlet.services.lambda_.base import Resolved
from cloudlet.services.lambda_.destinations import DestinationOps
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ResourceNotFound,
    ServiceFailure,
    TooManyRequests,
)
from cloudlet.services.lambda_.names import LATEST, function_arn
from cloudlet.services.lambda_.store import AsyncEvent, FnKey

log = logging.getLogger(__name__)

SYNC_PAYLOAD_LIMIT = 6291456
#: A synchronous response may be 100 bytes larger than a request (AWS's figure).
SYNC_RESPONSE_LIMIT = 6291556
ASYNC_PAYLOAD_LIMIT = 1048576
DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_EVENT_AGE_S = 21600
MAX_THROTTLE_BACKOFF_S = 300.0
#: First backoff after a throttle.  AWS starts at 1 s; locally a throttle is usually a
#: momentary lack of workers, so Cloudlet retries sooner (0.1 s, doubling).
THROTTLE_BACKOFF_BASE_S = 0.1
_SPEC_CACHE_LIMIT = 1024
#: How long an async event waits in the engine's queue for a free environment before it goes
#: back to the durable queue (with the throttle backoff).
ASYNC_QUEUE_WAIT_S = 10.0


#: The function version an async event runs and its event invoke config (``_attempt``'s reads).
Prefetched = tuple[Resolved, dict[str, Any]]


def check_payload(payload: bytes) -> bytes:
    """The event bytes to deliver: JSON-checked, ``{}`` when the caller sent nothing."""
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except ValueError as exc:
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc
    return payload


class InvokeOps(DestinationOps):
    retry_delays: tuple[float, ...] = (60.0, 120.0)
    async_concurrency: int = 32
    _wake: asyncio.Event
    _dispatcher: asyncio.Task[None] | None
    _inflight: set[int]
    #: Events ``_enqueue`` started directly since the dispatcher's current read began.
    _handed: set[int]
    _group: asyncio.TaskGroup | None
    _specs: dict[tuple[str, str, str, int | None, str], FunctionSpec]
    _background: set[asyncio.Task[None]]

    def _init_invoke(
        self, retry_delays: tuple[float, ...] | None, async_concurrency: int | None
    ) -> None:
        if retry_delays is not None:
            self.retry_delays = tuple(retry_delays)
        if async_concurrency is not None:
            self.async_concurrency = async_concurrency
        self._wake = asyncio.Event()
        self._dispatcher = None
        self._inflight = set()
        self._handed = set()
        self._group = None
        self._specs = {}
        self._background = set()

    async def published(self, key: FnKey, version: str, endpoint: str) -> None:
        """A new version: a SnapStart one gets its snapshot (init once) now, in the background."""
        if self.engine is None:
            return
        resolved = await self.db.read(lambda conn: self.resolve_tx(conn, key, version, route=False))
        spec = self.spec_for(resolved, endpoint)
        if not spec.snap_start:
            return
        engine = self.engine

        async def prepare() -> None:
            if not spec.code_dir.is_dir():
                await asyncio.to_thread(self.code.code_dir, resolved.config["CodeHex"])
            error = await engine.prepare(spec)
            if error:
                log.warning("SnapStart snapshot of %s:%s failed: %s", key.name, version, error)

        task = asyncio.create_task(prepare())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.code.sweep_temporaries)
        await self.outbox.start()
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(
                self._dispatch_loop(), name="lambda-async-dispatcher"
            )

    async def stop(self) -> None:
        await self.outbox.stop()
        for pending in list(self._background):
            pending.cancel()
        task, self._dispatcher = self._dispatcher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def statistics(self) -> dict[str, int]:
        """Async deliveries running now and specs cached (pending events: ``store.pending_count``)."""
        return {"async_inflight": len(self._inflight), "cached_specs": len(self._specs)}

    # -- Invoke ------------------------------------------------------------------------

    async def Invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        invocation_type = params.get("InvocationType") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValue(f"Unsupported invocation type: {invocation_type}")
        payload = params.get("Payload") or b""
        if isinstance(payload, str):
            payload = payload.encode()
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            raise RequestTooLarge(
                f"{len(payload)} byte payload is too large for the {invocation_type} invocation "
                f"type (limit {limit} bytes)"
            )
        event = check_payload(payload)
        if invocation_type == "Event":
            return await self._enqueue(ctx, params, event)
        resolved = await self.resolve_for_invoke(ctx, params)
        if invocation_type == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        result = await self.run(
            resolved,
            event,
            request_id=ctx.request_id,
            endpoint=ctx.endpoint,
            client_context=params.get("ClientContext"),
        )
        response, function_error = result.payload, result.function_error
        if len(response) > SYNC_RESPONSE_LIMIT:
            function_error = "Unhandled"
            response = json.dumps({
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({SYNC_RESPONSE_LIMIT} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }).encode()  # fmt: skip
        out: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": response,
            "ExecutedVersion": resolved.version,
        }
        if function_error:
            out["FunctionError"] = function_error
        if params.get("LogType") == "Tail":
            out["LogResult"] = base64.b64encode(result.log_tail().encode()).decode()
        return out

    async def _enqueue(
        self, ctx: RequestContext, params: dict[str, Any], event: bytes
    ) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        now = time.time()

        def run(conn: sqlite3.Connection) -> tuple[AsyncEvent, Prefetched]:
            resolved = self.resolve_tx(conn, key, qualifier, route=False)
            event_id = store.enqueue_tx(
                conn, ctx.request_id, key, qualifier, resolved.invoked_arn, ctx.endpoint, event, now
            )
            queued = AsyncEvent(
                id=event_id, request_id=ctx.request_id, key=key, qualifier=qualifier,
                invoked_arn=resolved.invoked_arn, endpoint=ctx.endpoint, payload=event,
                enqueued_at=now, attempts=0, throttles=0, next_attempt_at=now,
            )  # fmt: skip
            # What the first attempt reads, read here: it starts moments from now.
            routed = resolved if resolved.alias is None else self.resolve_tx(conn, key, qualifier)
            return queued, (routed, self._event_settings_tx(conn, queued))

        # Only the queue changes: cached resolutions and policies stay valid.
        queued, prefetched = await self.db.point_write(run, invalidates=False)
        self._deliver_now(queued, prefetched)
        return {"StatusCode": 202, "Payload": b""}

    def _deliver_now(self, event: AsyncEvent, prefetched: Prefetched) -> None:
        """Start a just-committed event without the dispatcher reading it back (when there is room)."""
        group = self._group
        if group is None or event.id in self._inflight or len(self._inflight) >= self.async_concurrency:
            self._wake.set()
            return
        try:
            group.create_task(self._deliver(event, prefetched), name=f"lambda-async-{event.request_id}")
        except RuntimeError:  # the dispatcher is shutting down: the row waits for the next start
            return
        self._inflight.add(event.id)
        self._handed.add(event.id)

    @staticmethod
    def _event_settings_tx(conn: sqlite3.Connection, event: AsyncEvent) -> dict[str, Any]:
        """The event invoke config (retries, maximum age, destinations) that applies to ``event``."""
        found = store.get_eic_tx(conn, event.key, event.qualifier or LATEST)
        return found[0] if found else {}

    # -- running a version ------------------------------------------------------------------

    def spec_for(self, resolved: Resolved, endpoint: str) -> FunctionSpec:
        config = resolved.config
        key = resolved.key
        reserved = resolved.record.reserved_concurrency
        cache_key = (
            key.region + ":" + key.account + ":" + key.name,
            resolved.version,
            config["RevisionId"],
            reserved,
            endpoint,
        )
        spec = self._specs.get(cache_key)
        if spec is not None:
            return spec
        if len(self._specs) >= _SPEC_CACHE_LIMIT:
            self._specs.clear()
        access_key, secret_key = self.credentials_for_functions
        qualifier = None if resolved.version == LATEST else resolved.version
        spec = FunctionSpec(
            function_name=key.name,
            function_arn=function_arn(key.region, key.account, key.name, qualifier),
            version=resolved.version,
            revision=config["RevisionId"],
            handler=config["Handler"],
            runtime=config["Runtime"],
            code_dir=self.code.extract_root / config["CodeHex"],
            layer_dirs=(),
            environment=dict(config.get("Environment") or {}),
            memory_mb=int(config["MemorySize"]),
            timeout_s=float(config["Timeout"]),
            region=key.region,
            account_id=key.account,
            endpoint_url=endpoint,
            access_key_id=access_key,
            secret_access_key=secret_key,
            log_group=f"/aws/lambda/{key.name}",
            reserved_concurrency=reserved,
            snap_start=config.get("SnapStart") == "PublishedVersions" and resolved.version != LATEST,
        )
        self._specs[cache_key] = spec
        return spec

    async def run(
        self,
        resolved: Resolved,
        event: bytes,
        *,
        request_id: str,
        endpoint: str,
        client_context: str | None,
        wait_s: float = 0.0,
    ) -> InvokeResult:
        """Run one invocation of ``resolved``; raise ``TooManyRequests`` when throttled.

        ``wait_s`` > 0 waits that long for a free environment first (asynchronous events queue).
        """
        if resolved.record.reserved_concurrency == 0:
            raise TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded")
        if self.engine is None:
            raise ServiceFailure("The Lambda execution engine is not available.")
        spec = self.spec_for(resolved, endpoint)
        if not spec.code_dir.is_dir():
            await asyncio.to_thread(self.code.code_dir, resolved.config["CodeHex"])
        request = InvokeRequest(
            request_id=request_id,
            payload=event,
            invoked_function_arn=resolved.invoked_arn,
            client_context=client_context,
        )
        try:
            result = await self.engine.invoke(spec, request, wait_s=wait_s)
        except Throttled as exc:
            raise TooManyRequests(exc.reason) from exc
        if self.logs_store is not None and result.log_events:
            key = resolved.key
            try:
                await self.logs_store.put_events(
                    key.region, key.account, spec.log_group, result.log_stream, result.log_events
                )
            except Exception:  # the invocation happened; losing its log must not hide the result
                log.exception("writing the log of %s to %s failed", request_id, spec.log_group)
        return result

    # -- async delivery -----------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                await self._dispatch(group)
            finally:
                self._group = None

    async def _dispatch(self, group: asyncio.TaskGroup) -> None:
        while True:
            self._wake.clear()
            now = time.time()
            free = self.async_concurrency - len(self._inflight)
            if free > 0:
                self._handed.clear()
                try:
                    events = await self.store.due_events(now, set(self._inflight), free)
                except Exception:
                    log.exception("reading the async invocation queue failed")
                    events = []
                for event in events:
                    # Started meanwhile by ``_deliver_now``, or even finished and deleted already.
                    if event.id in self._inflight or event.id in self._handed:
                        continue
                    self._inflight.add(event.id)
                    group.create_task(
                        self._deliver(event), name=f"lambda-async-{event.request_id}"
                    )
            timeout = await self._wait_time(now)
            await wait_for_wake(self._wake, timeout)

    async def _wait_time(self, now: float) -> float:
        if len(self._inflight) >= self.async_concurrency:
            return 5.0
        try:
            due = await self.store.due_events(float("inf"), set(self._inflight), 1)
        except Exception:
            return 5.0
        if not due:
            return 5.0
        return min(5.0, max(0.0, due[0].next_attempt_at - now))

    async def _deliver(self, event: AsyncEvent, prefetched: Prefetched | None = None) -> None:
        try:
            await self._attempt(event, prefetched)
        except Exception:
            log.exception("delivering async event %s failed; retrying later", event.request_id)
            with contextlib.suppress(Exception):
                await self.store.reschedule(
                    event.id,
                    attempts=event.attempts,
                    throttles=event.throttles + 1,
                    at=time.time() + 5.0,
                )
        finally:
            self._inflight.discard(event.id)
            self._wake.set()

    async def _attempt(self, event: AsyncEvent, prefetched: Prefetched | None = None) -> None:
        def lookup(conn: sqlite3.Connection) -> Prefetched:
            return self.resolve_tx(conn, event.key, event.qualifier), self._event_settings_tx(conn, event)

        now = time.time()
        try:
            resolved, settings = prefetched if prefetched is not None else await self.db.read(lookup)
        except ResourceNotFound:
            await self._finish(event, "FunctionNotFound", event.attempts, None, None)
            return
        max_age = float(settings.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_S))
        max_retries = int(settings.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES))
        dlq = (resolved.config.get("DeadLetterConfig") or {}).get("TargetArn") or None
        if now - event.enqueued_at > max_age:
            await self._finish(event, "EventAgeExceeded", event.attempts, None, None, settings, dlq)
            return
        try:
            result = await self.run(
                resolved,
                event.payload,
                request_id=event.request_id,
                endpoint=event.endpoint,
                client_context=None,
                wait_s=ASYNC_QUEUE_WAIT_S,
            )
        except ServiceError as exc:  # throttled, or the engine is unavailable: not an attempt
            delay = min(MAX_THROTTLE_BACKOFF_S, THROTTLE_BACKOFF_BASE_S * 2.0**event.throttles)
            delay *= random.uniform(1.0, 1.5)  # spread a throttled burst out
            if now + delay - event.enqueued_at > max_age:
                await self._finish(event, "EventAgeExceeded", event.attempts, None, None, settings, dlq)
            else:
                log.debug("async event %s deferred %.0fs: %s", event.request_id, delay, exc.code)
                await self.store.reschedule(
                    event.id, attempts=event.attempts, throttles=event.throttles + 1, at=now + delay
                )
            return
        attempts = event.attempts + 1
        if result.function_error is None:
            await self._finish(event, "Success", attempts, resolved.version, result, settings, dlq)
            return
        if attempts > max_retries:
            await self._finish(event, "RetriesExhausted", attempts, resolved.version, result, settings, dlq)
            return
        delay = (
            self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)]
            if self.retry_delays
            else 0.0
        )
        if time.time() + delay - event.enqueued_at > max_age:
            await self._finish(event, "EventAgeExceeded", attempts, resolved.version, result, settings, dlq)
            return
        await self.store.reschedule(
            event.id, attempts=attempts, throttles=event.throttles, at=time.time() + delay
        )

    async def _finish(
        self,
        event: AsyncEvent,
        condition: str,
        attempts: int,
        version: str | None,
        result: InvokeResult | None,
        settings: dict[str, Any] | None = None,
        dead_letter: str | None = None,
    ) -> None:
        now = time.time()
        also = self.enqueue_endings(
            event, condition, attempts, version, result, settings or {}, dead_letter, now
        )
        await self.store.finish(
            event,
            condition=condition,
            attempts=attempts,
            executed_version=version,
            function_error=result.function_error if result else None,
            response=result.payload if result else None,
            now=now,
            also=also,
        )
        if also is not None:
            self.outbox.wake()
