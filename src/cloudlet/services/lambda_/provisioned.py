"""Provisioned concurrency: ``Put/Get/Delete/ListProvisionedConcurrencyConfig(s)``.

A config names a published version or an alias (never ``$LATEST``) and is
stored in ``provisioned_concurrency``; the engine keeps that many initialized
environments of the version (``Engine.provision``).  ``Status`` is READY once
all of them have run init, IN_PROGRESS before, FAILED when init fails.  Configs
are re-applied when the provider starts and after a function's warm pools were
discarded (code or configuration update).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ValidationError
from cloudlet.services.lambda_ import store
from cloudlet.services.lambda_.base import Resolved
from cloudlet.services.lambda_.config import now_iso
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    ProvisionedConcurrencyConfigNotFound,
)
from cloudlet.services.lambda_.functions import page
from cloudlet.services.lambda_.invoke import InvokeOps
from cloudlet.services.lambda_.names import LATEST, function_arn
from cloudlet.services.lambda_.store import FnKey, ProvisionedRecord

log = logging.getLogger(__name__)

NOT_FOUND = "No Provisioned Concurrency Config found for this function"


class ProvisionedOps(InvokeOps):
    async def start(self) -> None:
        await super().start()
        try:
            await self.reprovision()
        except Exception:
            log.exception("re-applying provisioned concurrency failed")

    async def discard_pools(self, key: FnKey) -> None:
        """Drop warm environments (new code/config), then re-apply the function's provisioned concurrency."""
        await super().discard_pools(key)
        await self.reprovision(key)

    def _qualifier(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[FnKey, str]:
        key, qualifier = self.ref(ctx, params)
        if qualifier is None:
            raise ValidationError("1 validation error detected: Value null at 'qualifier' failed to satisfy "
                                  "constraint: Member must not be null")  # fmt: skip
        if qualifier == LATEST:
            raise InvalidParameterValue(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        return key, qualifier

    async def _apply(self, resolved: Resolved, count: int, endpoint: str) -> tuple[int, int, str | None]:
        """Tell the engine; returns ``(requested, ready, error)`` as it stands."""
        if self.engine is None:
            return count, 0, None
        spec = self.spec_for(resolved, endpoint)
        if not spec.code_dir.is_dir():
            await asyncio.to_thread(self.code.code_dir, resolved.config["CodeHex"])
        requested, ready, error = self.engine.provisioned_status(spec)
        if requested != count:
            await self.engine.provision(spec, count)
            requested, ready, error = self.engine.provisioned_status(spec)
        return requested, ready, error

    def _view(self, record: ProvisionedRecord, ready: int, error: str | None) -> dict[str, Any]:
        status = "FAILED" if error else ("READY" if ready >= record.requested else "IN_PROGRESS")
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": record.requested,
            "AvailableProvisionedConcurrentExecutions": min(ready, record.requested),
            "AllocatedProvisionedConcurrentExecutions": min(ready, record.requested),
            "Status": status,
            "LastModified": record.last_modified,
        }
        if error:
            out["StatusReason"] = f"FUNCTION_ERROR_INIT_FAILURE: {error[:512]}"
        return out

    async def PutProvisionedConcurrencyConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self._qualifier(ctx, params)
        count = int(params["ProvisionedConcurrentExecutions"])
        if count < 1:
            raise ValidationError(
                f"1 validation error detected: Value '{count}' at 'provisionedConcurrentExecutions' failed to "
                "satisfy constraint: Member must have value greater than or equal to 1"
            )
        record = ProvisionedRecord(key, qualifier, count, ctx.endpoint, now_iso())

        def run(conn: sqlite3.Connection) -> Resolved:
            resolved = self.resolve_tx(conn, key, qualifier, route=False)
            reserved = resolved.record.reserved_concurrency
            if reserved is not None and count > reserved:
                raise InvalidParameterValue(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    "for function"
                )
            store.put_provisioned_tx(conn, record)
            return resolved

        resolved = await self.db.write(run)
        _, ready, error = await self._apply(resolved, count, ctx.endpoint)
        return self._view(record, ready, error)

    async def GetProvisionedConcurrencyConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self._qualifier(ctx, params)

        def run(conn: sqlite3.Connection) -> tuple[Resolved, ProvisionedRecord | None]:
            return self.resolve_tx(conn, key, qualifier, route=False), store.get_provisioned_tx(conn, key, qualifier)

        resolved, record = await self.db.read(run)
        if record is None:
            raise ProvisionedConcurrencyConfigNotFound(NOT_FOUND)
        _, ready, error = await self._apply(resolved, record.requested, record.endpoint)
        return self._view(record, ready, error)

    async def DeleteProvisionedConcurrencyConfig(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self._qualifier(ctx, params)

        def run(conn: sqlite3.Connection) -> tuple[Resolved, int]:
            resolved = self.resolve_tx(conn, key, qualifier, route=False)
            return resolved, store.delete_provisioned_tx(conn, key, qualifier)

        resolved, deleted = await self.db.write(run)
        if not deleted:
            raise ProvisionedConcurrencyConfigNotFound(NOT_FOUND)
        if self.engine is not None:
            await self.engine.provision(self.spec_for(resolved, ctx.endpoint), 0)
        return {}

    async def ListProvisionedConcurrencyConfigs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> list[tuple[ProvisionedRecord, Resolved | None]]:
            self.require_tx(conn, key)
            out: list[tuple[ProvisionedRecord, Resolved | None]] = []
            for record in store.list_provisioned_tx(conn, key):
                out.append((record, self.resolve_tx(conn, key, record.qualifier, route=False)))
            return out

        views = []
        for record, resolved in await self.db.read(run):
            ready, error = 0, None
            if resolved is not None:
                _, ready, error = await self._apply(resolved, record.requested, record.endpoint)
            view = self._view(record, ready, error)
            views.append({"FunctionArn": function_arn(key.region, key.account, key.name, record.qualifier), **view})
        chunk, marker = page(views, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"ProvisionedConcurrencyConfigs": chunk}
        if marker:
            out["NextMarker"] = marker
        return out

    async def reprovision(self, key: FnKey | None = None) -> None:
        """Re-apply stored configs (all, or one function's) to the engine."""
        if self.engine is None:
            return

        def run(conn: sqlite3.Connection) -> list[tuple[ProvisionedRecord, Resolved]]:
            out = []
            for record in store.list_provisioned_tx(conn, key):
                try:
                    out.append((record, self.resolve_tx(conn, record.key, record.qualifier, route=False)))
                except Exception:
                    continue
            return out

        for record, resolved in await self.db.read(run):
            try:
                await self._apply(resolved, record.requested, record.endpoint)
            except Exception:
                log.exception("re-provisioning %s:%s failed", record.key.name, record.qualifier)
