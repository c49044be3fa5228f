"""Helpers shared by the API Gateway and function URL integration tests: functions, raw HTTP, local servers."""

from __future__ import annotations

import http.client
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ROLE = "arn:aws:iam::000000000000:role/apigw-tests"

ECHO = '''
import base64, json
def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith("/bare"):
        return {"hello": "world"}
    if path.endswith("/boom"):
        raise RuntimeError("boom")
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path.endswith("/malformed"):
        return {"statusCode": "nope"}
    return {"statusCode": 201, "headers": {"content-type": "application/json", "x-echo": "1"},
            "cookies": ["a=1", "b=2"], "multiValueHeaders": {"x-multi": ["p", "q"]}, "body": json.dumps(event)}
'''


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def create_function(lambda_client: Any, code: str = ECHO, name: str | None = None) -> str:
    response = lambda_client.create_function(
        FunctionName=name or unique("apigw"), Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip(code)}, Timeout=10,
    )
    arn: str = response["FunctionArn"]
    return arn


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def request(endpoint: str, method: str, path: str, *, host: str | None = None, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> Response:
    """A raw HTTP request to the server (``host`` overrides the Host header: the host form)."""
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        all_headers = dict(headers or {})
        if host is not None:
            all_headers["Host"] = host
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@contextmanager
def local_http_server(handle: Handler) -> Iterator[str]:
    """A loopback HTTP server answering every request with ``handle``; yields its base URL."""

    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status, headers, body = handle(self)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
