"""Control plane: tables, indexes, streams settings, TTL settings, tags, limits."""

from __future__ import annotations

import copy
import datetime
import json
import sqlite3
import time
import uuid
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb import store
from cloudlet.services.dynamodb.base import Base
from cloudlet.services.dynamodb.schema import (
    ResourceInUse,
    ResourceNotFound,
    TableDef,
    build_table_meta,
    index_description,
    invalid,
    throughput,
    validate_key_schema,
)

_INTERNAL = ("Tags", "TimeToLive", "PointInTimeRecovery")


class TablesMixin(Base):
    async def CreateTable(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TableName"]
        key = (ctx.account_id, ctx.region, name)
        now = time.time()
        meta = build_table_meta(params, account=ctx.account_id, region=ctx.region, now=now, table_id=str(uuid.uuid4()))
        if params.get("Tags"):
            meta["Tags"] = list(params["Tags"])
        spec = params.get("StreamSpecification")
        if spec and spec.get("StreamEnabled"):
            if not spec.get("StreamViewType"):
                raise ValidationError("Stream specification is invalid: StreamViewType is required when StreamEnabled is true")
            _new_stream(meta, spec["StreamViewType"], now)
        if key in self.tables:
            raise ResourceInUse(f"Table already exists: {name}")

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO tables (account, region, name, meta) VALUES (?, ?, ?, ?)",
                (ctx.account_id, ctx.region, name, json.dumps(meta)),
            )
            tid = int(cursor.lastrowid or 0)
            table = TableDef(tid, ctx.account_id, ctx.region, meta)
            _record_stream(conn, table)
            return tid

        try:
            tid = await self.db.write(job)
        except sqlite3.IntegrityError:
            raise ResourceInUse(f"Table already exists: {name}") from None
        table = TableDef(tid, ctx.account_id, ctx.region, meta)
        self.tables[key] = table
        self.by_tid[tid] = table
        description = await self.describe(table)
        # AWS answers CREATING; the table is usable at once and DescribeTable says ACTIVE.
        description["TableStatus"] = "CREATING"
        for index in description.get("GlobalSecondaryIndexes") or []:
            index["IndexStatus"] = "CREATING"
        return {"TableDescription": description}

    async def describe(self, table: TableDef) -> dict[str, Any]:
        description = {k: copy.deepcopy(v) for k, v in table.meta.items() if k not in _INTERNAL}
        row = await self.db.fetchone("SELECT item_count, size_bytes FROM tables WHERE tid = ?", (table.tid,))
        if row is not None:
            description["ItemCount"] = row["item_count"]
            description["TableSizeBytes"] = row["size_bytes"]
        else:
            description["ItemCount"] = 0
            description["TableSizeBytes"] = 0
        if table.indexes:
            counts = {
                r["idx"]: (r["n"], r["s"])
                for r in await self.db.fetchall(
                    "SELECT idx, COUNT(*) AS n, COALESCE(SUM(size), 0) AS s FROM index_items WHERE tid = ? GROUP BY idx", (table.tid,)
                )
            }
            for member in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                for index in description.get(member) or []:
                    n, s = counts.get(index["IndexName"], (0, 0))
                    index["ItemCount"] = n
                    index["IndexSizeBytes"] = s
        return description

    async def DescribeTable(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TableName"]
        table = self.tables.get((ctx.account_id, ctx.region, name))
        if table is None:
            raise ResourceNotFound(f"Requested resource not found: Table: {name} not found")
        return {"Table": await self.describe(table)}

    async def ListTables(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names = sorted(n for (a, r, n) in self.tables if a == ctx.account_id and r == ctx.region)
        start = params.get("ExclusiveStartTableName")
        if start:
            names = [n for n in names if n > start]
        limit = int(params.get("Limit") or 100)
        page = names[:limit]
        result: dict[str, Any] = {"TableNames": page}
        if len(names) > limit:
            result["LastEvaluatedTableName"] = page[-1]
        return result

    async def DeleteTable(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TableName"]
        table = self.tables.get((ctx.account_id, ctx.region, name))
        if table is None:
            raise ResourceNotFound(f"Requested resource not found: Table: {name} not found")
        if table.meta.get("DeletionProtectionEnabled"):
            raise ValidationError("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
        description = await self.describe(table)
        description["TableStatus"] = "DELETING"

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE streams SET enabled = 0 WHERE tid = ?", (table.tid,))
            store.drop_table_rows(conn, table.tid)

        await self.db.write(job)
        self.tables.pop((ctx.account_id, ctx.region, name), None)
        self.by_tid.pop(table.tid, None)
        return {"TableDescription": description}

    async def UpdateTable(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.tables.get((ctx.account_id, ctx.region, params["TableName"]))
        if table is None:
            raise ResourceNotFound(f"Requested resource not found: Table: {params['TableName']} not found")
        meta = copy.deepcopy(table.meta)
        now = time.time()
        billing = params.get("BillingMode") or (meta.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
        changed = False
        if params.get("BillingMode"):
            meta["BillingModeSummary"] = {"BillingMode": billing, "LastUpdateToPayPerRequestDateTime": now}
            if billing == "PAY_PER_REQUEST":
                meta["ProvisionedThroughput"] = throughput(None, billing)
            changed = True
        if params.get("ProvisionedThroughput"):
            if billing == "PAY_PER_REQUEST":
                raise invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
            meta["ProvisionedThroughput"] = throughput(params["ProvisionedThroughput"], billing)
            changed = True
        elif params.get("BillingMode") == "PROVISIONED":
            raise invalid("ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
        if "DeletionProtectionEnabled" in params:
            meta["DeletionProtectionEnabled"] = bool(params["DeletionProtectionEnabled"])
            changed = True
        spec = params.get("StreamSpecification")
        if spec is not None:
            current = table.stream_view_type
            if spec.get("StreamEnabled"):
                if current is not None:
                    raise ValidationError(f"Table already has an enabled stream: TableName: {table.name}")
                if not spec.get("StreamViewType"):
                    raise ValidationError("Stream specification is invalid: StreamViewType is required when StreamEnabled is true")
                _new_stream(meta, spec["StreamViewType"], now)
            else:
                if current is None:
                    raise ValidationError(f"Table already has no stream enabled: TableName: {table.name}")
                meta["StreamSpecification"] = {"StreamEnabled": False}
            changed = True
        new_indexes: list[str] = []
        for update in params.get("GlobalSecondaryIndexUpdates") or []:
            changed = True
            new_indexes += self._gsi_update(meta, params, update, billing)
        if params.get("AttributeDefinitions") and not params.get("GlobalSecondaryIndexUpdates"):
            changed = True
        if not changed:
            raise ValidationError("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
        updated = TableDef(table.tid, table.account, table.region, meta)

        def job(conn: sqlite3.Connection) -> None:
            store.update_meta(conn, updated)
            if spec is not None:
                conn.execute("UPDATE streams SET enabled = 0 WHERE tid = ?", (table.tid,))
                _record_stream(conn, updated)
            conn.execute(
                "DELETE FROM index_items WHERE tid = ? AND idx NOT IN ({})".format(",".join("?" * len(updated.indexes)))
                if updated.indexes else "DELETE FROM index_items WHERE tid = ?",
                (table.tid, *updated.indexes),
            )
            for name in new_indexes:
                store.backfill_index(conn, updated, name)

        await self.db.write(job)
        table.meta = meta
        table.refresh()
        description = await self.describe(table)
        description["TableStatus"] = "UPDATING"
        for index in description.get("GlobalSecondaryIndexes") or []:
            if index["IndexName"] in new_indexes:
                index["IndexStatus"] = "CREATING"
                index["Backfilling"] = True
        return {"TableDescription": description}

    def _gsi_update(self, meta: dict[str, Any], params: dict[str, Any], update: dict[str, Any], billing: str) -> list[str]:
        gsis: list[dict[str, Any]] = meta.setdefault("GlobalSecondaryIndexes", [])
        existing = {g["IndexName"] for g in gsis} | {i["IndexName"] for i in meta.get("LocalSecondaryIndexes") or []}
        if "Create" in update:
            create = update["Create"]
            definitions = {a["AttributeName"]: a["AttributeType"] for a in meta["AttributeDefinitions"]}
            for definition in params.get("AttributeDefinitions") or []:
                old = definitions.get(definition["AttributeName"])
                if old is not None and old != definition["AttributeType"]:
                    raise invalid(f"Cannot change the type of an existing attribute: {definition['AttributeName']}")
                definitions[definition["AttributeName"]] = definition["AttributeType"]
            validate_key_schema(create["KeySchema"], definitions, "Index")
            if create["IndexName"] in existing:
                raise ValidationError(f"One or more parameter values were invalid: Index with name: {create['IndexName']} already exists")
            if len(gsis) >= 20:
                raise ValidationError("Subscriber limit exceeded: The number of global secondary indexes exceeds the limit of 20")
            gsis.append(index_description(create, billing, meta["TableArn"], "GSI"))
            meta["AttributeDefinitions"] = [{"AttributeName": k, "AttributeType": v} for k, v in definitions.items()]
            return [create["IndexName"]]
        if "Delete" in update:
            name = update["Delete"]["IndexName"]
            if name not in {g["IndexName"] for g in gsis}:
                raise ResourceNotFound(f"Requested resource not found: Index: {name} not found")
            meta["GlobalSecondaryIndexes"] = [g for g in gsis if g["IndexName"] != name]
            if not meta["GlobalSecondaryIndexes"]:
                del meta["GlobalSecondaryIndexes"]
            _prune_definitions(meta)
            return []
        if "Update" in update:
            name = update["Update"]["IndexName"]
            for g in gsis:
                if g["IndexName"] == name:
                    g["ProvisionedThroughput"] = throughput(update["Update"].get("ProvisionedThroughput"), billing)
                    return []
            raise ResourceNotFound(f"Requested resource not found: Index: {name} not found")
        return []

    # -- TTL -------------------------------------------------------------------------------

    async def UpdateTimeToLive(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.table(ctx, params["TableName"])
        spec = params["TimeToLiveSpecification"]
        current = table.meta.get("TimeToLive") or {}
        enabled = current.get("TimeToLiveStatus") == "ENABLED"
        if spec["Enabled"] and enabled:
            raise ValidationError("TimeToLive is already enabled")
        if not spec["Enabled"] and not enabled:
            raise ValidationError("TimeToLive is already disabled")
        if not spec["Enabled"] and current.get("AttributeName") != spec["AttributeName"]:
            raise ValidationError("TimeToLive is active on a different AttributeName: current AttributeName is " + str(current.get("AttributeName")))
        meta = copy.deepcopy(table.meta)
        meta["TimeToLive"] = (
            {"TimeToLiveStatus": "ENABLED", "AttributeName": spec["AttributeName"]} if spec["Enabled"] else {"TimeToLiveStatus": "DISABLED"}
        )
        updated = TableDef(table.tid, table.account, table.region, meta)

        def job(conn: sqlite3.Connection) -> None:
            store.update_meta(conn, updated)
            store.recompute_expires(conn, updated)

        await self.db.write(job)
        table.meta = meta
        table.refresh()
        return {"TimeToLiveSpecification": {"Enabled": spec["Enabled"], "AttributeName": spec["AttributeName"]}}

    async def DescribeTimeToLive(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.table(ctx, params["TableName"])
        return {"TimeToLiveDescription": dict(table.meta.get("TimeToLive") or {"TimeToLiveStatus": "DISABLED"})}

    # -- backups settings (recorded, not acted on) -------------------------------------------

    async def DescribeContinuousBackups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.tables.get((ctx.account_id, ctx.region, params["TableName"]))
        if table is None:
            raise TableNotFound(f"Table not found: {params['TableName']}")
        return {"ContinuousBackupsDescription": _backups(table.meta)}

    async def UpdateContinuousBackups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.tables.get((ctx.account_id, ctx.region, params["TableName"]))
        if table is None:
            raise TableNotFound(f"Table not found: {params['TableName']}")
        meta = copy.deepcopy(table.meta)
        spec = params["PointInTimeRecoverySpecification"]
        meta["PointInTimeRecovery"] = {
            "Enabled": bool(spec["PointInTimeRecoveryEnabled"]),
            "RecoveryPeriodInDays": int(spec.get("RecoveryPeriodInDays") or 35),
        }
        updated = TableDef(table.tid, table.account, table.region, meta)
        await self.db.write(lambda conn: store.update_meta(conn, updated))
        table.meta = meta
        return {"ContinuousBackupsDescription": _backups(meta)}

    # -- tags --------------------------------------------------------------------------------

    def _by_arn(self, ctx: RequestContext, arn: str) -> TableDef:
        name = arn.split(":table/", 1)[-1].split("/", 1)[0]
        table = self.tables.get((ctx.account_id, ctx.region, name))
        if table is None or not arn.startswith("arn:"):
            raise ResourceNotFound(f"Requested resource not found: ResourceArn: {arn} not found")
        return table

    async def _save_tags(self, table: TableDef, tags: list[dict[str, str]]) -> None:
        meta = copy.deepcopy(table.meta)
        meta["Tags"] = tags
        updated = TableDef(table.tid, table.account, table.region, meta)
        await self.db.write(lambda conn: store.update_meta(conn, updated))
        table.meta = meta

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self._by_arn(ctx, params["ResourceArn"])
        tags = {t["Key"]: t["Value"] for t in table.meta.get("Tags") or []}
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        await self._save_tags(table, [{"Key": k, "Value": v} for k, v in tags.items()])
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self._by_arn(ctx, params["ResourceArn"])
        drop = set(params["TagKeys"])
        await self._save_tags(table, [t for t in table.meta.get("Tags") or [] if t["Key"] not in drop])
        return {}

    async def ListTagsOfResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self._by_arn(ctx, params["ResourceArn"])
        return {"Tags": list(table.meta.get("Tags") or [])}

    # -- account -------------------------------------------------------------------------------

    async def DescribeEndpoints(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        address = ctx.endpoint.split("://", 1)[-1] if ctx.endpoint else f"dynamodb.{ctx.region}.amazonaws.com"
        return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}

    async def DescribeLimits(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000,
        }


class TableNotFound(ServiceError):
    code = "TableNotFoundException"


def _backups(meta: dict[str, Any]) -> dict[str, Any]:
    pitr = meta.get("PointInTimeRecovery") or {}
    description: dict[str, Any] = {"PointInTimeRecoveryStatus": "ENABLED" if pitr.get("Enabled") else "DISABLED"}
    if pitr.get("Enabled"):
        description["RecoveryPeriodInDays"] = pitr["RecoveryPeriodInDays"]
        description["EarliestRestorableDateTime"] = meta["CreationDateTime"]
        description["LatestRestorableDateTime"] = time.time()
    return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": description}


def _prune_definitions(meta: dict[str, Any]) -> None:
    used = {k["AttributeName"] for k in meta["KeySchema"]}
    for member in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in meta.get(member) or []:
            used |= {k["AttributeName"] for k in index["KeySchema"]}
    meta["AttributeDefinitions"] = [a for a in meta["AttributeDefinitions"] if a["AttributeName"] in used]


def _new_stream(meta: dict[str, Any], view_type: str, now: float) -> None:
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    label = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    meta["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    meta["LatestStreamLabel"] = label
    meta["LatestStreamArn"] = f"{meta['TableArn']}/stream/{label}"


def _record_stream(conn: sqlite3.Connection, table: TableDef) -> None:
    view = table.stream_view_type
    arn = table.meta.get("LatestStreamArn")
    if view is None or not arn:
        return
    conn.execute(
        "INSERT OR REPLACE INTO streams (arn, tid, account, region, table_name, label, view_type, key_schema, created, enabled) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        (arn, table.tid, table.account, table.region, table.name, table.meta["LatestStreamLabel"], view,
         json.dumps(table.meta["KeySchema"]), time.time()),
    )
