"""What hangs off a function: aliases, reserved concurrency, tags, the resource
policy and event invoke configs."""

from __future__ import annotations

import datetime
import json
import sqlite3
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ValidationError
from cloudlet.services.lambda_ import store
from cloudlet.services.lambda_.base import ACCOUNT_CONCURRENCY, MIN_UNRESERVED, ProviderCore
from cloudlet.services.lambda_.config import new_revision
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    ResourceConflict,
    ResourceNotFound,
)
from cloudlet.services.lambda_.functions import page
from cloudlet.services.lambda_.names import (
    ALIAS_RE,
    LATEST,
    VERSION_RE,
    function_arn,
    parse_resource_arn,
)
from cloudlet.services.lambda_.store import AliasRecord, FnKey
from cloudlet.services.lambda_.urls import delete_function_urls_tx

MAX_POLICY_BYTES = 20480
_ACCOUNT_RE_LEN = 12


def _alias_arn(key: FnKey, alias: str) -> str:
    return function_arn(key.region, key.account, key.name, alias)


def alias_view(key: FnKey, alias: AliasRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AliasArn": _alias_arn(key, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return out


def principal_of(principal: str) -> Any:
    """The ``Principal`` element AWS writes for an ``AddPermission`` principal."""
    if principal == "*":
        return "*"
    if principal.isdigit() and len(principal) == _ACCOUNT_RE_LEN:
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


class ResourceOps(ProviderCore):
    # -- aliases -----------------------------------------------------------------------

    def _check_target_tx(
        self, conn: sqlite3.Connection, key: FnKey, version: str, weights: dict[str, float]
    ) -> None:
        for candidate in (version, *weights):
            if candidate == LATEST:
                continue
            if (
                not VERSION_RE.fullmatch(candidate)
                or store.get_version_tx(conn, key, int(candidate)) is None
            ):
                raise self.not_found(key, candidate)
        if weights:
            if version == LATEST or LATEST in weights:
                raise InvalidParameterValue(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
            if len(weights) > 1:
                raise InvalidParameterValue(
                    "Number of additional versions cannot be greater than 1."
                )
            if version in weights:
                raise InvalidParameterValue(
                    "Alias cannot point to the same version in both the primary and additional "
                    "version weights."
                )
            for weight in weights.values():
                if not 0.0 <= float(weight) <= 1.0:
                    raise InvalidParameterValue(
                        "Invalid function version weight: weights must be between 0.0 and 1.0."
                    )

    @staticmethod
    def _weights(params: dict[str, Any]) -> dict[str, float]:
        routing = params.get("RoutingConfig") or {}
        return {
            str(k): float(v) for k, v in (routing.get("AdditionalVersionWeights") or {}).items()
        }

    async def CreateAlias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        name = params["Name"]
        if not ALIAS_RE.fullmatch(name):
            raise ValidationError(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
            )
        version = params["FunctionVersion"]
        weights = self._weights(params)

        def run(conn: sqlite3.Connection) -> AliasRecord:
            self.require_tx(conn, key)
            if store.get_alias_tx(conn, key, name) is not None:
                raise ResourceConflict(f"Alias already exists: {_alias_arn(key, name)}")
            self._check_target_tx(conn, key, version, weights)
            alias = AliasRecord(
                name, version, params.get("Description") or "", weights, new_revision()
            )
            store.put_alias_tx(conn, key, alias)
            return alias

        return alias_view(key, await self.db.write(run))

    def _require_alias_tx(self, conn: sqlite3.Connection, key: FnKey, name: str) -> AliasRecord:
        self.require_tx(conn, key)
        alias = store.get_alias_tx(conn, key, name)
        if alias is None:
            raise ResourceNotFound(f"Alias not found: {_alias_arn(key, name)}")
        return alias

    async def GetAlias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        alias = await self.db.read(lambda conn: self._require_alias_tx(conn, key, params["Name"]))
        return alias_view(key, alias)

    async def UpdateAlias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> AliasRecord:
            alias = self._require_alias_tx(conn, key, params["Name"])
            self.check_revision(params.get("RevisionId"), alias.revision_id)
            if "FunctionVersion" in params:
                alias.function_version = params["FunctionVersion"]
            if "Description" in params:
                alias.description = params["Description"] or ""
            if "RoutingConfig" in params:
                alias.weights = self._weights(params)
            self._check_target_tx(conn, key, alias.function_version, alias.weights)
            alias.revision_id = new_revision()
            store.put_alias_tx(conn, key, alias)
            return alias

        return alias_view(key, await self.db.write(run))

    async def DeleteAlias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> None:
            self.require_tx(conn, key)
            store.delete_alias_tx(conn, key, params["Name"])
            delete_function_urls_tx(conn, key, params["Name"])

        await self.db.write(run)
        return {}

    async def ListAliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        version = params.get("FunctionVersion")

        def run(conn: sqlite3.Connection) -> list[AliasRecord]:
            self.require_tx(conn, key)
            return store.list_aliases_tx(conn, key)

        aliases = [
            alias_view(key, a)
            for a in await self.db.read(run)
            if version is None or a.function_version == version or version in a.weights
        ]
        chunk, marker = page(aliases, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Aliases": chunk}
        if marker:
            out["NextMarker"] = marker
        return out

    # -- reserved concurrency -------------------------------------------------------------

    async def PutFunctionConcurrency(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        wanted = int(params["ReservedConcurrentExecutions"])
        if wanted < 0:
            raise InvalidParameterValue("ReservedConcurrentExecutions must be 0 or greater.")

        def run(conn: sqlite3.Connection) -> None:
            record = self.require_tx(conn, key)
            others = store.reserved_total_tx(conn, key.region, key.account, key.name)
            if ACCOUNT_CONCURRENCY - others - wanted < MIN_UNRESERVED:
                raise InvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
                )
            record.reserved_concurrency = wanted
            store.update_function_tx(conn, record)

        await self.db.write(run)
        return {"ReservedConcurrentExecutions": wanted}

    async def GetFunctionConcurrency(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)
        record = await self.db.read(lambda conn: self.require_tx(conn, key))
        if record.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    async def DeleteFunctionConcurrency(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> None:
            record = self.require_tx(conn, key)
            record.reserved_concurrency = None
            store.update_function_tx(conn, record)

        await self.db.write(run)
        return {}

    # -- tags -------------------------------------------------------------------------------

    def _tag_key(self, ctx: RequestContext, resource: str) -> FnKey:
        ref = parse_resource_arn(resource)
        return self.key_for(ctx, ref.name)

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._tag_key(ctx, params["Resource"])
        tags = dict(params.get("Tags") or {})

        def run(conn: sqlite3.Connection) -> None:
            record = self.require_tx(conn, key)
            record.tags.update(tags)
            if len(record.tags) > 50:
                raise InvalidParameterValue("The number of tags exceeds the limit of 50.")
            store.update_function_tx(conn, record)

        await self.db.write(run)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._tag_key(ctx, params["Resource"])
        keys = list(params.get("TagKeys") or [])

        def run(conn: sqlite3.Connection) -> None:
            record = self.require_tx(conn, key)
            for tag in keys:
                record.tags.pop(tag, None)
            store.update_function_tx(conn, record)

        await self.db.write(run)
        return {}

    async def ListTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = self._tag_key(ctx, params["Resource"])
        record = await self.db.read(lambda conn: self.require_tx(conn, key))
        return {"Tags": dict(record.tags)}

    # -- resource policy --------------------------------------------------------------------

    def _policy_target_tx(self, conn: sqlite3.Connection, key: FnKey, qualifier: str | None) -> str:
        """Check the qualifier exists; return the revision id its policy is guarded by."""
        resolved = self.resolve_tx(conn, key, qualifier, route=False)
        if resolved.alias is not None:
            return resolved.alias.revision_id
        return str(resolved.config["RevisionId"])

    async def AddPermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        sid = params["StatementId"]
        action = params["Action"]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal_of(params["Principal"]),
            "Action": action,
            "Resource": function_arn(key.region, key.account, key.name, qualifier),
        }
        condition: dict[str, dict[str, str]] = {}
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("EventSourceToken"):
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = params[
                "EventSourceToken"
            ]
        if params.get("PrincipalOrgID"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params[
                "PrincipalOrgID"
            ]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params[
                "FunctionUrlAuthType"
            ]
        if params.get("SourceArn"):
            condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
        if condition:
            statement["Condition"] = condition
        scope = qualifier or ""

        def run(conn: sqlite3.Connection) -> None:
            revision = self._policy_target_tx(conn, key, qualifier)
            self.check_revision(params.get("RevisionId"), revision)
            existing = store.list_statements_tx(conn, key, scope)
            size = len(json.dumps(_policy([*existing, statement])))
            if size > MAX_POLICY_BYTES:
                raise PolicyLengthExceeded(
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
                )
            if not store.add_statement_tx(conn, key, scope, sid, statement):
                raise ResourceConflict(
                    "The statement id (sid) provided already exists. Please provide a new statement "
                    "id, or remove the existing statement."
                )

        await self.db.write(run)
        return {"Statement": json.dumps(statement, separators=(",", ":"))}

    async def RemovePermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        sid = params["StatementId"]

        def run(conn: sqlite3.Connection) -> None:
            revision = self._policy_target_tx(conn, key, qualifier)
            self.check_revision(params.get("RevisionId"), revision)
            if not store.remove_statement_tx(conn, key, qualifier or "", sid):
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")

        await self.db.write(run)
        return {}

    async def GetPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # S3 asks on every event it sends to a function: read between writes only.
        key, qualifier = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> tuple[str, str | None]:
            revision = self._policy_target_tx(conn, key, qualifier)
            statements = store.list_statements_tx(conn, key, qualifier or "")
            policy = json.dumps(_policy(statements), separators=(",", ":")) if statements else None
            return revision, policy

        revision, policy = await self.read_between_writes(self._policy_cache, (key, qualifier), run)
        if policy is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return {"Policy": policy, "RevisionId": revision}

    # -- event invoke configs -----------------------------------------------------------------

    def _eic_view(
        self, key: FnKey, qualifier: str, config: dict[str, Any], modified: float
    ) -> dict[str, Any]:
        destinations = config.get("DestinationConfig") or {}
        return {
            "LastModified": datetime.datetime.fromtimestamp(modified, datetime.UTC),
            "FunctionArn": function_arn(key.region, key.account, key.name, qualifier),
            **{
                k: config[k]
                for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
                if k in config
            },
            "DestinationConfig": {
                "OnSuccess": dict(destinations.get("OnSuccess") or {}),
                "OnFailure": dict(destinations.get("OnFailure") or {}),
            },
        }

    @staticmethod
    def _eic_fields(params: dict[str, Any]) -> dict[str, Any]:
        fields = {
            k: params[k]
            for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
            if params.get(k) is not None
        }
        retries = fields.get("MaximumRetryAttempts")
        if retries is not None and not 0 <= int(retries) <= 2:
            raise ValidationError(
                f"1 validation error detected: Value '{retries}' at 'maximumRetryAttempts' failed to "
                "satisfy constraint: Member must have value less than or equal to 2"
            )
        age = fields.get("MaximumEventAgeInSeconds")
        if age is not None and not 60 <= int(age) <= 21600:
            raise ValidationError(
                f"1 validation error detected: Value '{age}' at 'maximumEventAgeInSeconds' failed "
                "to satisfy constraint: Member must have value between 60 and 21600"
            )
        return fields

    async def _write_eic(
        self, ctx: RequestContext, params: dict[str, Any], *, merge: bool
    ) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        scope = qualifier or LATEST
        fields = self._eic_fields(params)
        if not fields and not merge:
            raise InvalidParameterValue(
                "You must specify at least one of error handling or destination setting."
            )
        now = time.time()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            self.resolve_tx(conn, key, scope, route=False)
            config: dict[str, Any] = {}
            if merge:
                existing = store.get_eic_tx(conn, key, scope)
                if existing is not None:
                    config = existing[0]
            config.update(fields)
            store.put_eic_tx(conn, key, scope, config, now)
            return config

        config = await self.db.write(run)
        return self._eic_view(key, scope, config, now)

    async def PutFunctionEventInvokeConfig(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._write_eic(ctx, params, merge=False)

    async def UpdateFunctionEventInvokeConfig(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._write_eic(ctx, params, merge=True)

    async def GetFunctionEventInvokeConfig(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        scope = qualifier or LATEST

        def run(conn: sqlite3.Connection) -> tuple[dict[str, Any], float] | None:
            self.resolve_tx(conn, key, scope, route=False)
            return store.get_eic_tx(conn, key, scope)

        found = await self.db.read(run)
        if found is None:
            arn = function_arn(key.region, key.account, key.name, scope)
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        return self._eic_view(key, scope, *found)

    async def DeleteFunctionEventInvokeConfig(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, qualifier = self.ref(ctx, params)
        scope = qualifier or LATEST

        def run(conn: sqlite3.Connection) -> int:
            self.resolve_tx(conn, key, scope, route=False)
            return store.delete_eic_tx(conn, key, scope)

        if not await self.db.write(run):
            arn = function_arn(key.region, key.account, key.name, scope)
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        return {}

    async def ListFunctionEventInvokeConfigs(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        key, _ = self.ref(ctx, params)

        def run(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any], float]]:
            self.require_tx(conn, key)
            return store.list_eic_tx(conn, key)

        views = [self._eic_view(key, q, c, m) for q, c, m in await self.db.read(run)]
        chunk, marker = page(views, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"FunctionEventInvokeConfigs": chunk}
        if marker:
            out["NextMarker"] = marker
        return out


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}
