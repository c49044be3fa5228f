"""The edge: one ASGI application in front of every service.

The request pipeline is the visible list of steps in ``Edge.handle``:

1. internal routes under ``/_cloudlet/`` (health, code downloads);
2. pick the service (``ServiceRouter``: credential scope, ``X-Amz-Target``,
   ``Action``, S3 fallback);
3. authenticate (SigV4 header / presigned, SigV2 presigned for S3) — only S3
   may be reached unsigned, as on AWS;
4. parse the request into ``(operation, params)`` with the protocol built
   once for (service, protocol);
5. call the provider method named like the operation, or answer 501;
6. serialize the result — or, in the one place that does it, the error.

Everything per service (models, protocols, dispatch tables) is built in
``__init__``; the request path is look-ups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel

from cloudlet import __version__
from cloudlet.config import Settings
from cloudlet.context import RequestContext
from cloudlet.edge.auth import authenticate, decode_streaming_body, signing_scope
from cloudlet.edge.body import MAX_IN_MEMORY, STREAM_AFTER, from_receive
from cloudlet.edge.routing import Route, ServiceRouter
from cloudlet.errors import InternalError, NotImplementedOperation, ServiceError
from cloudlet.protocols import protocol_named
from cloudlet.protocols.base import HttpRequest, HttpResponse, Protocol
from cloudlet.services.hub import ROUTED_SERVICES, DataPlane, ServiceHub

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]

#: Services that AWS lets anonymous callers reach (presigned URLs are signed,
#: but public-bucket reads are not).
ANONYMOUS_SERVICES = frozenset({"s3"})
#: Query actions AWS answers unsigned: the links in SNS's confirmation and notification messages.
ANONYMOUS_ACTIONS = frozenset({("sns", "ConfirmSubscription"), ("sns", "Unsubscribe")})
_ANONYMOUS_ACTION_SERVICES = frozenset(service for service, _ in ANONYMOUS_ACTIONS)
INTERNAL_PREFIX = "/_cloudlet/"
DATA_PLANE_PATH_PREFIX = "/_aws/"


class Edge:
    """The ASGI app: lifespan starts and stops the hub; HTTP goes through ``handle``."""

    def __init__(self, settings: Settings, hub: ServiceHub | None = None) -> None:
        self.settings = settings
        self.hub = hub if hub is not None else ServiceHub(settings)
        self.credentials = self.hub.credentials
        self.router = ServiceRouter(ROUTED_SERVICES)
        self.started = time.time()
        self._protocols: dict[Route, Protocol] = {}
        self._handlers: dict[str, dict[str, Handler]] = {}
        for service in ROUTED_SERVICES:
            provider = self.hub.providers.get(service)
            model = self.router.model(service)
            self._handlers[service] = {
                op: getattr(provider, op)
                for op in model.operation_names
                if provider is not None and callable(getattr(provider, op, None))
            }

    # -- ASGI ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = await _read_request(scope, receive)
            response = await self.handle(request)
            await _write_response(send, response, head=request.method == "HEAD")
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.hub.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the pipeline -------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        try:
            if request.path.startswith(INTERNAL_PREFIX):
                return await self._internal(await _whole(request))
            plane = self._data_plane(request)
            if plane is not None:
                return await plane(await _whole(request))
        except ServiceError as error:
            return _json_response(error.status, {"message": error.message})
        scope = signing_scope(request)
        route = self.router.route(request, scope.service if scope else None)
        protocol = self._protocol(route)
        if request.stream is not None and not (route.service == "s3" and _streams_upload(protocol, request)):
            try:
                request = await _whole(request)
            except ServiceError as error:
                return protocol.serialize_error(None, error, request_id)
        # S3 POST Object, a browser form upload: the provider checks the form's own signature
        # and adds CORS headers itself.
        if route.service == "s3" and request.method == "POST" and "s3" in self.hub.providers \
                and _is_form_post(request):
            return await self.hub.providers["s3"].post_object(request, request_id)
        if route.service == "s3" and (request.method == "OPTIONS" or "origin" in request.headers):
            return await self._s3_cors(request, request_id, route, protocol)
        return await self._api(request, request_id, route, protocol)

    async def _api(self, request: HttpRequest, request_id: str, route: Route, protocol: Protocol) -> HttpResponse:
        """Steps 3 to 6: authenticate, parse, call the provider, serialize."""
        operation: OperationModel | None = None
        try:
            principal = authenticate(
                request,
                self.credentials,
                service=route.service,
                allow_anonymous=route.service in ANONYMOUS_SERVICES
                or (
                    route.service in _ANONYMOUS_ACTION_SERVICES
                    and (route.service, self.router.form_action(request)) in ANONYMOUS_ACTIONS
                ),
            )
            request = decode_streaming_body(request, principal)
            operation, params = protocol.parse(request)
            handler = self._handlers[route.service].get(operation.name)
            if handler is None:
                raise NotImplementedOperation(route.service, operation.name)
            ctx = RequestContext(
                request_id=request_id,
                service=route.service,
                operation=operation.name,
                region=principal.region or self.settings.region,
                account_id=principal.account_id,
                access_key_id=principal.access_key_id,
                endpoint=_endpoint(request, self.settings),
                headers=request.headers,
            )
            result = await handler(ctx, params)
            return protocol.serialize(operation, result, request_id)
        except ServiceError as error:
            return protocol.serialize_error(operation, error, request_id)
        except Exception:
            log.exception("internal error in %s %s", route.service, operation.name if operation else "?")
            internal = InternalError("We encountered an internal error. Please try again.")
            return protocol.serialize_error(operation, internal, request_id)

    async def _s3_cors(self, request: HttpRequest, request_id: str, route: Route, protocol: Protocol) -> HttpResponse:
        """S3's CORS: preflights are answered from the bucket's rules, unsigned (as on AWS);
        actual cross-origin requests get the matching rule's headers added."""
        provider = self.hub.providers.get("s3")
        bucket = _s3_bucket(protocol, request)
        if provider is None or not bucket:
            return await self._api(request, request_id, route, protocol)
        if request.method == "OPTIONS":
            status, headers, body = await provider.cors_preflight(bucket, request.headers, request_id)
            return HttpResponse(status, list(headers), body)
        response = await self._api(request, request_id, route, protocol)
        response.headers.extend(await provider.cors_headers(bucket, request.method, request.headers))
        return response

    def _data_plane(self, request: HttpRequest) -> DataPlane | None:
        """The handler of an HTTP data plane (API Gateway, function URLs) this request is for, if any.

        Host form: ``{id}.{plane}.…`` (``abc123.execute-api.localhost:4566``);
        path form for clients that cannot set a host: ``/_aws/{plane}/{id}/…``.
        """
        planes = self.hub.data_planes
        if not planes:
            return None
        if request.path.startswith(DATA_PLANE_PATH_PREFIX):
            name = request.path[len(DATA_PLANE_PATH_PREFIX) :].split("/", 1)[0]
            return planes.get(name)
        labels = request.headers.get("host", "").split(":", 1)[0].split(".")
        if len(labels) >= 3:
            return planes.get(labels[1])
        return None

    def _protocol(self, route: Route) -> Protocol:
        protocol = self._protocols.get(route)
        if protocol is None:
            protocol = self._protocols[route] = protocol_named(route.service, route.protocol)
        return protocol

    # -- /_cloudlet/ ----------------------------------------------------------

    async def _internal(self, request: HttpRequest) -> HttpResponse:
        path = request.path[len(INTERNAL_PREFIX) :]
        if path == "health" and request.method in ("GET", "HEAD"):
            body = {
                "status": "running",
                "version": __version__,
                "endpoint": self.settings.endpoint,
                "region": self.settings.region,
                "uptime_s": round(time.time() - self.started, 3),
                "services": {s: ("available" if s in self.hub.providers else "wire-only") for s in ROUTED_SERVICES},
            }
            return _json_response(200, body)
        if path == "engine" and request.method == "GET":
            return _json_response(200, self.hub.engine.statistics())
        if path.startswith("lambda/code/") and request.method == "GET":
            data = self.hub.providers["lambda"].code_download(path[len("lambda/code/") :])
            if data is None:
                return _json_response(403, {"message": "The code URL is invalid or has expired."})
            return HttpResponse(200, [("content-type", "application/zip")], data)
        return _json_response(404, {"message": f"No such Cloudlet resource: {request.path}"})


class _RequestIds:
    """Random (version 4) UUIDs in text form, as ``str(uuid.uuid4())`` gives.

    ``os.urandom`` is one system call per id with ``uuid4``; here it is one per
    ``batch`` ids (the bytes are as random: they come from the same source).
    The pool is refilled in a child after ``fork`` so two processes never share it.
    """

    def __init__(self, batch: int = 256) -> None:
        self._size = 16 * batch
        self._pool = b""
        self._pos = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._pool, self._pos = b"", 0

    def __call__(self) -> str:
        with self._lock:
            if self._pos >= len(self._pool):
                self._pool, self._pos = os.urandom(self._size), 0
            raw = bytearray(self._pool[self._pos : self._pos + 16])
            self._pos += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        text = raw.hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


#: A new request id (a random UUID); cheap enough for every request.
new_request_id = _RequestIds()


def _s3_bucket(protocol: Protocol, request: HttpRequest) -> str:
    """The bucket an S3 request addresses, path-style or virtual-hosted."""
    prepare = getattr(protocol, "prepare", None)
    path = (prepare(request) if prepare is not None else request).path
    return unquote(path.lstrip("/").split("/", 1)[0].split("?", 1)[0])


def _json_response(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(body).encode())


def _endpoint(request: HttpRequest, settings: Settings) -> str:
    host = request.headers.get("host")
    return f"http://{host}" if host else settings.endpoint


async def _read_request(scope: Scope, receive: Receive) -> HttpRequest:
    """The request, its body read whole unless more than ``STREAM_AFTER`` bytes are still coming
    (then the request's ``stream`` continues where the bytes read so far end)."""
    message = await receive()
    stream = None
    if message["type"] == "http.disconnect":
        body = b""
    elif not message.get("more_body", False):  # the common case: the whole body in one message
        body = message.get("body", b"")
    else:
        chunks = [message.get("body", b"")]
        size = len(chunks[0])
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                break
            if size >= STREAM_AFTER:
                stream = from_receive(chunks, receive, _content_length(scope))
                break
        body = b"".join(chunks) if stream is None else b""
    raw_headers = scope["headers"]
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}
    if len(headers) != len(raw_headers):  # a repeated header: join its values in order
        headers = {}
        for raw_name, raw_value in raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return HttpRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1"),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        stream=stream,
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _whole(request: HttpRequest) -> HttpRequest:
    """``request`` with a body still streaming in read into memory (``MAX_IN_MEMORY`` at most)."""
    if request.stream is None:
        return request
    return dataclasses.replace(request, body=await request.stream.read_all(MAX_IN_MEMORY), stream=None)


def _is_form_post(request: HttpRequest) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


#: Query parameters an object upload (PutObject, UploadPart) may carry besides auth.
_UPLOAD_QUERY = frozenset({"partNumber", "uploadId", "x-id", "AWSAccessKeyId", "Signature", "Expires"})


def _streams_upload(protocol: Protocol, request: HttpRequest) -> bool:
    """Whether an S3 request is an object upload, whose body the provider takes as a stream
    (PutObject, UploadPart, and POST Object's form)."""
    if request.method == "POST":
        return _is_form_post(request)
    if request.method != "PUT" or "x-amz-copy-source" in request.headers:
        return False
    for item in request.query_string.split("&"):
        name = item.partition("=")[0]
        if name and name not in _UPLOAD_QUERY and not name.startswith("X-Amz-"):
            return False  # a subresource: ?tagging, ?acl, ?retention, …
    prepare = getattr(protocol, "prepare", None)
    path = (prepare(request) if prepare is not None else request).path
    bucket, _, key = path.lstrip("/").partition("/")
    return bool(bucket and key)


async def _write_response(send: Send, response: HttpResponse, *, head: bool) -> None:
    headers = []
    has_length = False
    for name, value in response.headers:
        lower = name.lower()
        if lower == "content-length":
            has_length = True
        headers.append((lower.encode("latin-1"), value.encode("latin-1")))
    if response.stream is not None:
        await _write_streamed(send, response, headers, has_length=has_length, head=head)
        return
    if not has_length:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def _write_streamed(
    send: Send, response: HttpResponse, headers: list[tuple[bytes, bytes]], *, has_length: bool, head: bool
) -> None:
    """Send a streamed body chunk by chunk; memory holds one chunk, whatever the size.

    The first chunk is read before the status line goes out, so a body that cannot
    be read (its file vanished under a concurrent delete) still gets a clean 500.
    """
    chunks = iter(response.stream)
    try:
        if not has_length:
            headers.append((b"content-length", str(len(response.stream)).encode()))
        try:
            chunk = b"" if head else await asyncio.to_thread(next, chunks, b"")
        except OSError:
            log.exception("streamed body could not be read")
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        while chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            chunk = await asyncio.to_thread(next, chunks, b"")
        await send({"type": "http.response.body", "body": b""})
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
