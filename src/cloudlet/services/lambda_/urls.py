"""Lambda function URLs: the ``*FunctionUrlConfig*`` operations and the ``lambda-url`` data plane.

``FunctionUrlOperations`` is a mixin of ``LambdaProvider`` (over
``ProviderCore``); its table comes from ``URL_MIGRATIONS``.  A URL is

* host form: ``http://{url-id}.lambda-url.{region}.localhost:{port}/`` (``*.localhost``
  resolves to loopback on common systems; or send ``Host:`` to 127.0.0.1);
* path form: ``http://127.0.0.1:{port}/_aws/lambda-url/{url-id}/``.

A request is answered like AWS's: CORS preflights by the URL itself, ``AWS_IAM``
URLs check SigV4 (signing name ``lambda``), the function gets the payload
format 2.0 event (``routeKey``/``stage`` ``$default``, ``apiId`` = url id) and
its result is mapped like an HTTP API's.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from cloudlet.context import RequestContext
from cloudlet.edge.auth import authenticate
from cloudlet.edge.credentials import CredentialStore
from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.apigatewayv2 import cors, events
from cloudlet.services.lambda_.base import ProviderCore
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    ResourceConflict,
    ResourceNotFound,
)
from cloudlet.services.lambda_.names import ALIAS_RE, LATEST, function_arn
from cloudlet.services.lambda_.store import FnKey
from cloudlet.storage import Migration

PLANE = "lambda-url"
PATH_PREFIX = f"/_aws/{PLANE}/"

URL_MIGRATIONS = [
    Migration(
        "lambda_function_urls_1",
        """
        CREATE TABLE function_urls (
            url_id TEXT PRIMARY KEY,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            auth_type TEXT NOT NULL,
            cors TEXT,
            invoke_mode TEXT NOT NULL,
            created TEXT NOT NULL,
            modified TEXT NOT NULL,
            UNIQUE (region, account, name, qualifier)
        );
        """,
    )
]

_URL_ID_ALPHABET = string.ascii_lowercase + string.digits
_COLUMNS = "url_id, region, account, name, qualifier, auth_type, cors, invoke_mode, created, modified"

DataPlane = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _now_iso() -> str:
    moment = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(moment)) + f"{int(moment * 1000) % 1000:03d}Z"


def _port(endpoint: str) -> int:
    return urlsplit(endpoint).port or 80


def function_url(url_id: str, region: str, endpoint: str) -> str:
    return f"http://{url_id}.{PLANE}.{region}.localhost:{_port(endpoint)}/"


def delete_function_urls_tx(conn: sqlite3.Connection, key: FnKey, qualifier: str | None = None) -> None:
    """Drop the URLs of a deleted function (``qualifier`` None) or of a deleted alias.

    Call it from ``DeleteFunction`` / ``DeleteAlias`` inside their write transaction.
    """
    if qualifier is None:
        conn.execute("DELETE FROM function_urls WHERE region = ? AND account = ? AND name = ?", key.params())
    else:
        conn.execute(
            "DELETE FROM function_urls WHERE region = ? AND account = ? AND name = ? AND qualifier = ?",
            (*key.params(), qualifier),
        )


def _message(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps({"Message": text}).encode())


class FunctionUrlOperations(ProviderCore):
    """``Create/Get/Update/Delete/ListFunctionUrlConfig(s)`` and the ``lambda-url`` plane."""

    # -- control plane -------------------------------------------------------------------

    def _url_qualifier(self, params: dict[str, Any]) -> str:
        qualifier = params.get("Qualifier")
        if qualifier is None or qualifier == LATEST:
            return LATEST
        if not ALIAS_RE.fullmatch(qualifier):
            raise InvalidParameterValue("1 validation error detected: Value '" + qualifier + "' at 'qualifier' "
                                        "failed to satisfy constraint: Member must satisfy regular expression "
                                        "pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)")
        return str(qualifier)

    def _url_view(self, row: sqlite3.Row, endpoint: str, *, modified: bool = True) -> dict[str, Any]:
        qualifier = None if row["qualifier"] == LATEST else row["qualifier"]
        out: dict[str, Any] = {
            "FunctionUrl": function_url(row["url_id"], row["region"], endpoint),
            "FunctionArn": function_arn(row["region"], row["account"], row["name"], qualifier),
            "AuthType": row["auth_type"],
            "CreationTime": row["created"],
            "InvokeMode": row["invoke_mode"],
        }
        if row["cors"]:
            out["Cors"] = json.loads(row["cors"])
        if modified:
            out["LastModifiedTime"] = row["modified"]
        return out

    @staticmethod
    def _check_url_params(params: dict[str, Any]) -> None:
        if params.get("AuthType") is not None and params["AuthType"] not in ("NONE", "AWS_IAM"):
            raise InvalidParameterValue(f"Invalid AuthType: {params['AuthType']}")
        if params.get("InvokeMode") is not None and params["InvokeMode"] not in ("BUFFERED", "RESPONSE_STREAM"):
            raise InvalidParameterValue(f"Invalid InvokeMode: {params['InvokeMode']}")
        config = params.get("Cors") or {}
        if len(config.get("AllowOrigins") or []) > 100 or len(config.get("AllowMethods") or []) > 6:
            raise InvalidParameterValue("Too many values in Cors configuration")
        max_age = config.get("MaxAge")
        if max_age is not None and not 0 <= int(max_age) <= 86400:
            raise InvalidParameterValue("Cors MaxAge must be between 0 and 86400")

    async def CreateFunctionUrlConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        qualifier = self._url_qualifier(params)
        if not params.get("AuthType"):
            raise InvalidParameterValue("AuthType is required")
        self._check_url_params(params)
        now = _now_iso()
        url_id = "".join(secrets.choice(_URL_ID_ALPHABET) for _ in range(32))
        cors_text = json.dumps(params["Cors"]) if params.get("Cors") else None

        def run(conn: sqlite3.Connection) -> sqlite3.Row:
            self.resolve_tx(conn, key, None if qualifier == LATEST else qualifier, route=False)
            existing = conn.execute(
                "SELECT 1 FROM function_urls WHERE region = ? AND account = ? AND name = ? AND qualifier = ?",
                (*key.params(), qualifier),
            ).fetchone()
            if existing is not None:
                arn = function_arn(key.region, key.account, key.name, None if qualifier == LATEST else qualifier)
                raise ResourceConflict(
                    f"Failed to create function url config for [functionArn = {arn}]. "
                    "Error message:  FunctionUrlConfig exists for this Lambda function"
                )
            conn.execute(
                f"INSERT INTO function_urls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (url_id, *key.params(), qualifier, params["AuthType"], cors_text,
                 params.get("InvokeMode") or "BUFFERED", now, now),
            )
            row: sqlite3.Row = conn.execute(f"SELECT {_COLUMNS} FROM function_urls WHERE url_id = ?",
                                            (url_id,)).fetchone()
            return row

        row = await self.db.write(run)
        return self._url_view(row, ctx.endpoint, modified=False)

    async def _url_row(self, key: FnKey, qualifier: str) -> sqlite3.Row:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM function_urls WHERE region = ? AND account = ? AND name = ? AND qualifier = ?",
            (*key.params(), qualifier),
        )
        if row is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return row

    async def GetFunctionUrlConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        qualifier = self._url_qualifier(params)
        await self.db.read(lambda conn: self.require_tx(conn, key))
        return self._url_view(await self._url_row(key, qualifier), ctx.endpoint)

    async def UpdateFunctionUrlConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        qualifier = self._url_qualifier(params)
        self._check_url_params(params)
        now = _now_iso()

        def run(conn: sqlite3.Connection) -> sqlite3.Row:
            self.require_tx(conn, key)
            where = "region = ? AND account = ? AND name = ? AND qualifier = ?"
            row = conn.execute(f"SELECT {_COLUMNS} FROM function_urls WHERE {where}", (*key.params(), qualifier)).fetchone()
            if row is None:
                raise ResourceNotFound("The resource you requested does not exist.")
            auth = params.get("AuthType") or row["auth_type"]
            cors_text = (json.dumps(params["Cors"]) if params["Cors"] else None) if "Cors" in params else row["cors"]
            mode = params.get("InvokeMode") or row["invoke_mode"]
            conn.execute(
                f"UPDATE function_urls SET auth_type = ?, cors = ?, invoke_mode = ?, modified = ? WHERE {where}",
                (auth, cors_text, mode, now, *key.params(), qualifier),
            )
            updated: sqlite3.Row = conn.execute(f"SELECT {_COLUMNS} FROM function_urls WHERE {where}",
                                                (*key.params(), qualifier)).fetchone()
            return updated

        row = await self.db.write(run)
        return self._url_view(row, ctx.endpoint)

    async def DeleteFunctionUrlConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        qualifier = self._url_qualifier(params)

        def run(conn: sqlite3.Connection) -> int:
            self.require_tx(conn, key)
            return conn.execute(
                "DELETE FROM function_urls WHERE region = ? AND account = ? AND name = ? AND qualifier = ?",
                (*key.params(), qualifier),
            ).rowcount

        if not await self.db.write(run):
            raise ResourceNotFound("The resource you requested does not exist.")
        return {}

    async def ListFunctionUrlConfigs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        await self.db.read(lambda conn: self.require_tx(conn, key))
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM function_urls WHERE region = ? AND account = ? AND name = ? ORDER BY created, url_id",
            key.params(),
        )
        start = int(params.get("Marker") or 0)
        size = int(params.get("MaxItems") or 50)
        out: dict[str, Any] = {"FunctionUrlConfigs": [self._url_view(r, ctx.endpoint) for r in rows[start : start + size]]}
        if start + size < len(rows):
            out["NextMarker"] = str(start + size)
        return out

    # -- data plane ----------------------------------------------------------------------

    def function_url_plane(self, credentials: CredentialStore, endpoint: str | None = None) -> DataPlane:
        """The ``lambda-url`` data-plane handler (register it as ``hub.data_planes["lambda-url"]``).

        ``endpoint`` is the AWS endpoint the invoked function is given
        (default: ``http://127.0.0.1:{port the request came in on}``).
        """
        async def handle(request: HttpRequest) -> HttpResponse:
            return await self._serve_url(request, credentials, endpoint)

        return handle

    async def _lookup_url(self, url_id: str) -> sqlite3.Row | None:
        # Read each time (one indexed reader query): DeleteFunction / DeleteAlias drop rows
        # in their own transactions, and a cache here would outlive them.
        return await self.db.fetchone(f"SELECT {_COLUMNS} FROM function_urls WHERE url_id = ?", (url_id,))

    async def _serve_url(
        self, request: HttpRequest, credentials: CredentialStore, endpoint: str | None
    ) -> HttpResponse:
        host = request.headers.get("host", "")
        hostname = host.split(":", 1)[0]
        if request.path.startswith(PATH_PREFIX):
            url_id, _, rest = request.path[len(PATH_PREFIX) :].partition("/")
            path = "/" + rest
        else:
            url_id, path = hostname.split(".", 1)[0], request.path or "/"
        row = await self._lookup_url(url_id)
        if row is None:
            return _message(404, "Not Found")
        domain = hostname if f".{PLANE}." in hostname else f"{url_id}.{PLANE}.{row['region']}.localhost"
        cors_config = json.loads(row["cors"]) if row["cors"] else None
        if cors_config and cors.is_preflight(request.method, request.headers):
            return HttpResponse(200, cors.preflight_headers(cors_config, request.headers), b"")
        authorizer: dict[str, Any] | None = None
        if row["auth_type"] == "AWS_IAM":
            try:
                principal = authenticate(request, credentials, service="lambda", allow_anonymous=False)
            except ServiceError:
                return _message(403, "Forbidden")
            if principal.account_id != row["account"]:
                return _message(403, "Forbidden")
            authorizer = {"iam": {
                "accessKey": principal.access_key_id, "accountId": principal.account_id,
                "callerId": principal.access_key_id, "cognitoIdentity": None, "principalOrgId": None,
                "userArn": f"arn:aws:iam::{principal.account_id}:root", "userId": principal.account_id,
            }}
        gateway_request = events.GatewayRequest.from_http(
            request, raw_path=path, api_id=url_id, account_id=row["account"], domain_name=domain
        )
        event = events.event_v2(gateway_request, route_key="$default", authorizer=authorizer)
        response = await self._invoke_url(row, event, gateway_request.request_id, endpoint or _local_endpoint(host))
        response.headers.append(("x-amzn-requestid", gateway_request.request_id))
        if cors_config:
            response.headers = cors.apply_cors(cors_config, request.headers, response.headers)
        return response

    async def _invoke_url(self, row: sqlite3.Row, event: dict[str, Any], request_id: str, endpoint: str) -> HttpResponse:
        qualifier = None if row["qualifier"] == LATEST else row["qualifier"]
        ctx = RequestContext(
            request_id=request_id or str(uuid.uuid4()), service="lambda", operation="Invoke", region=row["region"],
            account_id=row["account"], access_key_id=None, endpoint=endpoint,
        )
        invoke = getattr(self, "Invoke")  # noqa: B009 - provided by InvokeOps in the assembled provider
        try:
            result = await invoke(ctx, {"FunctionName": row["name"], "Qualifier": qualifier,
                                        "Payload": json.dumps(event).encode()})
        except ResourceNotFound:
            return _message(404, "Not Found")
        except ServiceError as error:
            if error.status == 429:
                return _message(429, "Rate Exceeded.")
            return _message(502, "Internal Server Error")
        if result.get("FunctionError"):
            return _message(502, "Internal Server Error")
        try:
            status, headers, body = events.response_v2(result.get("Payload") or b"")
        except events.BadGatewayResult:
            return _message(502, "Internal Server Error")
        return HttpResponse(status, headers, body)


def _local_endpoint(host: str) -> str:
    port = host.rsplit(":", 1)[1] if ":" in host else "80"
    return f"http://127.0.0.1:{port}"
