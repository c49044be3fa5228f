"""Functions, their code and their versions: the control-plane operations.

Every change that must be checked against current state (a name that must be
free, a ``RevisionId`` that must match, the next version number) runs in one
``Database.write`` job, so a check and its change are one transaction.  Zips
are inspected and stored before that job (content-addressed, so an upload
whose function write then fails leaves only a harmless, shareable blob).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.lambda_ import store
from cloudlet.services.lambda_.base import ACCOUNT_CONCURRENCY, ProviderCore
from cloudlet.services.lambda_.code import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, CodeInfo
from cloudlet.services.lambda_.config import (
    apply_settings,
    check_architectures,
    content_hash,
    new_config,
    new_revision,
    now_iso,
    render,
)
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
)
from cloudlet.services.lambda_.names import LATEST, VERSION_RE, parse_function_name
from cloudlet.services.lambda_.store import FunctionRecord
from cloudlet.services.lambda_.urls import delete_function_urls_tx

#: Seconds a ``GetFunction`` code URL stays valid.
CODE_URL_TTL_S = 600
DEFAULT_MAX_ITEMS = 50
S3_CODE_MESSAGE = (
    "Cloudlet does not support deploying code from S3 (S3Bucket/S3Key) yet; "
    "upload the package with ZipFile instead."
)


def page(
    items: list[Any], marker: str | None, max_items: int | None
) -> tuple[list[Any], str | None]:
    """Slice ``items`` after ``marker`` (an opaque offset); return the page and the next marker."""
    start = 0
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except ValueError as exc:
            raise InvalidParameterValue("Invalid marker.") from exc
    count = max_items if max_items and max_items > 0 else DEFAULT_MAX_ITEMS
    chunk = items[start : start + count]
    end = start + len(chunk)
    next_marker = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return chunk, next_marker


class FunctionOps(ProviderCore):
    """CreateFunction … ListVersionsByFunction, GetAccountSettings, code downloads."""

    _code_secret: bytes = os.urandom(32)

    # -- code ----------------------------------------------------------------------

    async def _take_code(
        self, code: dict[str, Any], operation: str, *, save: bool = True
    ) -> CodeInfo:
        if code.get("S3Bucket") or code.get("S3Key"):
            raise InvalidParameterValue(S3_CODE_MESSAGE)
        if code.get("ImageUri"):
            raise InvalidParameterValue(
                "Cloudlet supports only the Zip package type; container images are not supported."
            )
        data = code.get("ZipFile")
        if not data:
            raise InvalidParameterValue("Please provide a source for function code.")
        if isinstance(data, str):
            data = data.encode()
        info = await asyncio.to_thread(self.code.inspect, data, operation)
        if save:
            await asyncio.to_thread(self.code.save, data, info)
        return info

    @staticmethod
    def _set_code(config: dict[str, Any], info: CodeInfo) -> None:
        config["CodeSha256"] = info.sha256_b64
        config["CodeSize"] = info.size
        config["CodeHex"] = info.sha256_hex

    def code_url(self, ctx: RequestContext, sha256_hex: str) -> str:
        expires = int(time.time()) + CODE_URL_TTL_S
        message = f"{sha256_hex}.{expires}"
        signature = hmac.new(self._code_secret, message.encode(), hashlib.sha256).hexdigest()
        return f"{ctx.endpoint}/_cloudlet/lambda/code/{message}.{signature}"

    def code_download(self, token: str) -> bytes | None:
        """The zip a ``GetFunction`` code URL names, or ``None`` if the token is bad or expired."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        sha256_hex, expires, signature = parts
        expected = hmac.new(
            self._code_secret, f"{sha256_hex}.{expires}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature) or int(expires) < time.time():
            return None
        return self.code.read_zip(sha256_hex)

    # -- create / read ---------------------------------------------------------------

    async def CreateFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_name(params["FunctionName"])
        key = self.key_for(ctx, ref.name)
        config = new_config(params)
        info = await self._take_code(params.get("Code") or {}, "CreateFunction")
        self._set_code(config, info)
        config["LastModified"] = now_iso()
        config["RevisionId"] = new_revision()
        tags = dict(params.get("Tags") or {})
        publish = bool(params.get("Publish"))

        def run(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]]:
            if store.get_function_tx(conn, key) is not None:
                raise ResourceConflict(f"Function already exist: {key.name}")
            store.insert_function_tx(conn, key, config, tags, time.time())
            if publish:
                record = store.get_function_tx(conn, key)
                assert record is not None
                return self._publish_tx(conn, record, None)
            return LATEST, config

        version, shown = await self.db.write(run)
        return render(shown, key.region, key.account, key.name, version)

    async def GetFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resolved = await self.resolve(ctx, params, route=False)
        key = resolved.key
        out: dict[str, Any] = {
            "Configuration": render(
                resolved.config, key.region, key.account, key.name, resolved.version
            ),
            "Code": {
                "RepositoryType": "S3",
                "Location": self.code_url(ctx, resolved.config["CodeHex"]),
            },
        }
        if resolved.record.tags:
            out["Tags"] = dict(resolved.record.tags)
        if resolved.record.reserved_concurrency is not None:
            out["Concurrency"] = {
                "ReservedConcurrentExecutions": resolved.record.reserved_concurrency
            }
        return out

    async def GetFunctionConfiguration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        resolved = await self.resolve(ctx, params, route=False)
        key = resolved.key
        return render(resolved.config, key.region, key.account, key.name, resolved.version)

    async def ListFunctions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        all_versions = params.get("FunctionVersion") == "ALL"

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            for record in store.list_functions_tx(conn, ctx.region, ctx.account_id):
                key = record.key
                items.append(render(record.config, key.region, key.account, key.name))
                if all_versions:
                    for number, config in store.list_versions_tx(conn, key):
                        items.append(render(config, key.region, key.account, key.name, str(number)))
            return items

        items = await self.db.read(run)
        chunk, marker = page(items, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Functions": chunk}
        if marker:
            out["NextMarker"] = marker
        return out

    # -- update ----------------------------------------------------------------------

    async def UpdateFunctionCode(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        dry_run = bool(params.get("DryRun"))
        info = await self._take_code(params, "UpdateFunctionCode", save=not dry_run)
        architectures = (
            check_architectures(params["Architectures"]) if params.get("Architectures") else None
        )
        expected = params.get("RevisionId")
        publish = bool(params.get("Publish"))

        def run(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]]:
            record = self.require_tx(conn, key)
            self.check_revision(expected, record.config["RevisionId"])
            config = dict(record.config)
            self._set_code(config, info)
            if architectures:
                config["Architectures"] = architectures
            if dry_run:
                return LATEST, config
            config["LastModified"] = now_iso()
            config["RevisionId"] = new_revision()
            record.config = config
            store.update_function_tx(conn, record)
            if publish:
                return self._publish_tx(conn, record, None)
            return LATEST, config

        version, shown = await self.db.write(run)
        if not dry_run:
            await self.discard_pools(key)
        return render(shown, key.region, key.account, key.name, version)

    async def UpdateFunctionConfiguration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        if params.get("PackageType") not in (None, "Zip") or params.get("ImageConfig"):
            raise InvalidParameterValue("Cloudlet supports only the Zip package type.")
        expected = params.get("RevisionId")

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            record = self.require_tx(conn, key)
            self.check_revision(expected, record.config["RevisionId"])
            config = dict(record.config)
            apply_settings(config, params)
            config["LastModified"] = now_iso()
            config["RevisionId"] = new_revision()
            record.config = config
            store.update_function_tx(conn, record)
            return config

        config = await self.db.write(run)
        await self.discard_pools(key)
        return render(config, key.region, key.account, key.name)

    # -- versions ----------------------------------------------------------------------

    def _publish_tx(
        self, conn: sqlite3.Connection, record: FunctionRecord, description: str | None
    ) -> tuple[str, dict[str, Any]]:
        """Snapshot ``$LATEST`` as a new version, or return the newest one if nothing changed."""
        digest = content_hash(record.config)
        versions = store.list_versions_tx(conn, record.key)
        if versions and versions[-1][1].get("ContentHash") == digest:
            number, config = versions[-1]
            return str(number), config
        number = record.next_version
        snapshot = dict(record.config)
        snapshot["ContentHash"] = digest
        snapshot["RevisionId"] = new_revision()
        snapshot["LastModified"] = now_iso()
        if description is not None:
            snapshot["Description"] = description
        store.insert_version_tx(conn, record.key, number, snapshot)
        record.next_version = number + 1
        store.update_function_tx(conn, record)
        return str(number), snapshot

    async def PublishVersion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> tuple[str, dict[str, Any]]:
            record = self.require_tx(conn, key)
            sha = params.get("CodeSha256")
            if sha is not None and sha != record.config["CodeSha256"]:
                raise PreconditionFailed(
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                    f"({record.config['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
                )
            self.check_revision(params.get("RevisionId"), record.config["RevisionId"])
            return self._publish_tx(conn, record, params.get("Description"))

        version, config = await self.db.write(run)
        await self.published(key, version, ctx.endpoint)
        return render(config, key.region, key.account, key.name, version)

    async def ListVersionsByFunction(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            record = self.require_tx(conn, key)
            items = [render(record.config, key.region, key.account, key.name)]
            for number, config in store.list_versions_tx(conn, key):
                items.append(render(config, key.region, key.account, key.name, str(number)))
            return items

        items = await self.db.read(run)
        chunk, marker = page(items, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Versions": chunk}
        if marker:
            out["NextMarker"] = marker
        return out

    # -- delete ------------------------------------------------------------------------

    async def DeleteFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> None:
            self.require_tx(conn, key)
            if qualifier is None:
                store.delete_function_tx(conn, key)
                delete_function_urls_tx(conn, key)
                return
            if qualifier == LATEST:
                raise InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            if not VERSION_RE.fullmatch(qualifier):
                raise InvalidParameterValue(
                    "Deletion of aliases is not supported; use DeleteAlias instead."
                )
            if store.get_version_tx(conn, key, int(qualifier)) is None:
                raise self.not_found(key, qualifier)
            users = [
                a.name
                for a in store.list_aliases_tx(conn, key)
                if a.function_version == qualifier or qualifier in a.weights
            ]
            if users:
                raise ResourceConflict(
                    "Unable to delete version because the following aliases reference it: "
                    + json.dumps(users)
                )
            store.delete_version_tx(conn, key, int(qualifier))

        await self.db.write(run)
        await self.discard_pools(key)
        return {}

    # -- account -----------------------------------------------------------------------

    async def GetAccountSettings(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        def run(conn: sqlite3.Connection) -> tuple[int, int, int]:
            count, total = store.usage_tx(conn, ctx.region, ctx.account_id)
            reserved = store.reserved_total_tx(conn, ctx.region, ctx.account_id, None)
            return count, total, reserved

        count, total, reserved = await self.db.read(run)
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved,
            },
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }
