"""Event source mappings: the Lambda control-plane operations and the pollers' lifecycle.

``EventSourceMappingOperations`` is a mixin for ``LambdaProvider``.  It needs
from its host (``ProviderCore``) ``db``, ``resolve_tx`` and ``not_found``, and
``call`` — the hub's in-process client (``hub.call``), through which the
pollers read SQS queues and DynamoDB streams and invoke the function.

Mappings are stored in ``lambda.db`` (``esm_store.ESM_MIGRATIONS``).  Create,
Update and Delete answer with the transitional state AWS reports
(``Creating``, ``Updating``/``Enabling``/``Disabling``, ``Deleting``) and then
settle at once: a later Get reports ``Enabled``/``Disabled`` (or 404 after a
delete).  ``start_event_source_mappings`` starts one runner per enabled
mapping (``esm_pollers``); every control-plane change reconciles the runner
of that mapping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.lambda_.base import ProviderCore
from cloudlet.services.lambda_.errors import (
    InvalidParameterValue,
    ResourceConflict,
    ResourceNotFound,
)
from cloudlet.services.lambda_.esm_filters import parse_filter_criteria
from cloudlet.services.lambda_.esm_pollers import Runner, make_runner
from cloudlet.services.lambda_.esm_store import (
    EsmStore,
    Mapping,
    delete_tx,
    find_duplicate_tx,
    get_tx,
    put_tx,
)
from cloudlet.services.lambda_.names import function_arn, parse_function_name

log = logging.getLogger(__name__)

CallFn = Callable[..., Awaitable[dict[str, Any]]]

_SQS_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[\w-]{1,80})"
)
_DDB_STREAM_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"table/(?P<table>[\w.-]{3,255})/stream/(?P<label>.+)"
)
_DESTINATION_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(sqs|sns|s3):.*")
_STREAM_ONLY = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "TumblingWindowInSeconds",
)
NOT_FOUND_MESSAGE = "The resource you requested does not exist."
SQS_DEFAULT_BATCH = 10
STREAM_DEFAULT_BATCH = 100
#: Concurrent batches of an SQS mapping without ``ScalingConfig.MaximumConcurrency``.
SQS_DEFAULT_CONCURRENCY = 5


def _range_error(value: Any, member: str, low: int, high: int) -> ValidationError:
    bound = (
        f"greater than or equal to {low}" if int(value) < low else f"less than or equal to {high}"
    )
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must have value {bound}"
    )


def _int_in(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{name} must be an integer.")
    if not low <= value <= high:
        raise _range_error(value, name[0].lower() + name[1:], low, high)
    return value


def source_kind(arn: str) -> str:
    if _SQS_ARN.fullmatch(arn):
        return "sqs"
    if _DDB_STREAM_ARN.fullmatch(arn):
        return "dynamodb"
    raise InvalidParameterValue(
        "Unrecognized event source, must be kafka, kinesis, dynamodb, sqs, mq or documentdb."
    )


class EventSourceMappingOperations(ProviderCore):
    """Create/Get/Update/Delete/ListEventSourceMappings and the pollers behind them."""

    #: The hub's in-process client (``hub.call``); set by whoever builds the provider.
    call: CallFn | None = None
    #: ReceiveMessage long-poll wait of the SQS pollers (AWS: 20 s).
    esm_sqs_wait_s: int = 20
    #: Pause between GetRecords calls on an idle stream shard (AWS polls 4 times a second).
    esm_stream_poll_interval_s: float = 1.0
    #: First pause before retrying a failed stream batch; doubles up to ``esm_retry_max_s``.
    esm_retry_base_s: float = 1.0
    esm_retry_max_s: float = 30.0
    #: Pause after the event source itself failed (queue or stream missing, throttled...).
    esm_error_backoff_s: float = 5.0
    esm_default_sqs_concurrency: int = SQS_DEFAULT_CONCURRENCY
    _esm_runners: dict[str, Runner]
    _esm_started: bool

    def configure_event_source_mappings(
        self,
        *,
        call: CallFn | None = None,
        sqs_wait_s: int | None = None,
        stream_poll_interval_s: float | None = None,
        retry_base_s: float | None = None,
        retry_max_s: float | None = None,
        error_backoff_s: float | None = None,
    ) -> None:
        """Set the cross-service client and the pollers' intervals (tests shorten them)."""
        if call is not None:
            self.call = call
        if sqs_wait_s is not None:
            self.esm_sqs_wait_s = sqs_wait_s
        if stream_poll_interval_s is not None:
            self.esm_stream_poll_interval_s = stream_poll_interval_s
        if retry_base_s is not None:
            self.esm_retry_base_s = retry_base_s
        if retry_max_s is not None:
            self.esm_retry_max_s = retry_max_s
        if error_backoff_s is not None:
            self.esm_error_backoff_s = error_backoff_s

    @property
    def esm_store(self) -> EsmStore:
        store: EsmStore | None = self.__dict__.get("_esm_store")
        if store is None:
            store = EsmStore(self.db)
            self.__dict__["_esm_store"] = store
        return store

    def _esm_state(self) -> dict[str, Runner]:
        if "_esm_runners" not in self.__dict__:
            self._esm_runners = {}
            self._esm_started = False
        return self._esm_runners

    # -- lifecycle -----------------------------------------------------------------------

    async def start_event_source_mappings(self) -> None:
        """Start a runner for every enabled mapping (called by the provider's ``start``)."""
        runners = self._esm_state()
        self._esm_started = True
        for mapping in await self.esm_store.all():
            if mapping.enabled and mapping.uuid not in runners:
                runner = make_runner(self, mapping)
                runners[mapping.uuid] = runner
                runner.start()

    async def stop_event_source_mappings(self) -> None:
        runners = self._esm_state()
        self._esm_started = False
        stopping = list(runners.values())
        runners.clear()
        await asyncio.gather(*(runner.stop() for runner in stopping), return_exceptions=True)

    async def _esm_reconcile(self, uuid: str) -> None:
        runners = self._esm_state()
        mapping = await self.esm_store.get(uuid)
        runner = runners.get(uuid)
        if mapping is None or not mapping.enabled or not self._esm_started:
            if runner is not None:
                runners.pop(uuid, None)
                await runner.stop()
            return
        if runner is not None and runner.mapping.source_arn == mapping.source_arn:
            runner.update(mapping)
            return
        if runner is not None:
            await runner.stop()
        runner = make_runner(self, mapping)
        runners[uuid] = runner
        runner.start()

    def esm_statistics(self) -> dict[str, int]:
        runners = self._esm_state()
        return {
            "esm_runners": len(runners),
            "esm_workers": sum(runner.workers() for runner in runners.values()),
        }

    # -- operations ------------------------------------------------------------------------

    async def CreateEventSourceMapping(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        source_arn = params.get("EventSourceArn")
        if not source_arn:
            raise InvalidParameterValue("EventSourceArn is required.")
        if not params.get("FunctionName"):
            raise InvalidParameterValue("FunctionName is required.")
        kind = source_kind(source_arn)
        config = self._esm_config(kind, params, None)
        ref = parse_function_name(params["FunctionName"])
        key = self.key_for(ctx, ref.name)
        await self._esm_check_source(ctx, kind, source_arn, config)
        now = time.time()
        mapping_uuid = str(uuidlib.uuid4())
        enabled = params.get("Enabled", True) is not False

        def run(conn: sqlite3.Connection) -> Mapping:
            self.resolve_tx(conn, key, ref.qualifier, route=False)
            duplicate = find_duplicate_tx(conn, ctx.region, ctx.account_id, ref.name, source_arn)
            if duplicate is not None:
                label = "SQS arn" if kind == "sqs" else "event source"
                raise ResourceConflict(
                    f'An event source mapping with {label} (" {source_arn} ") and function '
                    f'(" {ref.name} ") already exists. Please update or delete the existing '
                    f"mapping with UUID {duplicate.uuid}"
                )
            mapping = Mapping(
                uuid=mapping_uuid,
                region=ctx.region,
                account=ctx.account_id,
                function_name=ref.name,
                qualifier=ref.qualifier,
                source_arn=source_arn,
                kind=kind,
                config=config,
                enabled=enabled,
                last_modified=now,
                last_result=None,
            )
            put_tx(conn, mapping, now)
            return mapping

        mapping = await self.db.write(run)
        await self._esm_reconcile(mapping.uuid)
        return self._esm_describe(mapping, "Creating")

    async def GetEventSourceMapping(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        mapping = await self._esm_require(ctx, params.get("UUID"))
        return self._esm_describe(mapping, "Enabled" if mapping.enabled else "Disabled")

    async def UpdateEventSourceMapping(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        current = await self._esm_require(ctx, params.get("UUID"))
        if params.get("StartingPosition") is not None:
            raise InvalidParameterValue("StartingPosition cannot be updated.")
        config = self._esm_config(current.kind, params, current.config)
        name, qualifier = current.function_name, current.qualifier
        if params.get("FunctionName"):
            ref = parse_function_name(params["FunctionName"])
            name, qualifier = ref.name, ref.qualifier
        key = self.key_for(ctx, name)
        enabled = current.enabled if params.get("Enabled") is None else bool(params["Enabled"])
        now = time.time()

        def run(conn: sqlite3.Connection) -> Mapping:
            found = get_tx(conn, current.uuid)
            if found is None:
                raise ResourceNotFound(NOT_FOUND_MESSAGE)
            self.resolve_tx(conn, key, qualifier, route=False)
            mapping = Mapping(
                uuid=found.uuid,
                region=found.region,
                account=found.account,
                function_name=name,
                qualifier=qualifier,
                source_arn=found.source_arn,
                kind=found.kind,
                config=config,
                enabled=enabled,
                last_modified=now,
                last_result=found.last_result,
            )
            conn.execute(
                "UPDATE esm_mappings SET function_name = ?, qualifier = ?, config = ?, enabled = ?,"
                " last_modified = ? WHERE uuid = ?",
                (name, qualifier, json.dumps(config), int(enabled), now, found.uuid),
            )
            return mapping

        mapping = await self.db.write(run)
        await self._esm_reconcile(mapping.uuid)
        if enabled != current.enabled:
            state = "Enabling" if enabled else "Disabling"
        else:
            state = "Updating"
        return self._esm_describe(mapping, state)

    async def DeleteEventSourceMapping(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        mapping = await self._esm_require(ctx, params.get("UUID"))

        def run(conn: sqlite3.Connection) -> None:
            if get_tx(conn, mapping.uuid) is None:
                raise ResourceNotFound(NOT_FOUND_MESSAGE)
            delete_tx(conn, mapping.uuid)

        await self.db.write(run)
        await self._esm_reconcile(mapping.uuid)
        return self._esm_describe(mapping, "Deleting")

    async def ListEventSourceMappings(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        max_items = params.get("MaxItems")
        limit = 100 if max_items is None else int(max_items)
        if not 1 <= limit <= 10000:
            raise _range_error(limit, "maxItems", 1, 10000)
        limit = min(limit, 100)
        name = qualifier = None
        if params.get("FunctionName"):
            ref = parse_function_name(params["FunctionName"])
            name, qualifier = ref.name, ref.qualifier
        after = _parse_marker(params.get("Marker"))
        rows = await self.esm_store.page(
            ctx.region,
            ctx.account_id,
            function_name=name,
            qualifier=qualifier,
            source_arn=params.get("EventSourceArn") or None,
            after=after,
            limit=limit + 1,
        )
        out: dict[str, Any] = {
            "EventSourceMappings": [
                self._esm_describe(m, "Enabled" if m.enabled else "Disabled")
                for m, _ in rows[:limit]
            ]
        }
        if len(rows) > limit:
            last, created = rows[limit - 1]
            out["NextMarker"] = f"{created!r}:{last.uuid}"
        return out

    # -- helpers -------------------------------------------------------------------------------

    async def _esm_require(self, ctx: RequestContext, uuid: Any) -> Mapping:
        if not isinstance(uuid, str) or not uuid:
            raise ResourceNotFound(NOT_FOUND_MESSAGE)
        mapping = await self.esm_store.get(uuid)
        if mapping is None or mapping.region != ctx.region or mapping.account != ctx.account_id:
            raise ResourceNotFound(NOT_FOUND_MESSAGE)
        return mapping

    def _esm_describe(self, mapping: Mapping, state: str) -> dict[str, Any]:
        config = mapping.config
        out: dict[str, Any] = {"UUID": mapping.uuid}
        if mapping.kind == "dynamodb":
            out["StartingPosition"] = config["StartingPosition"]
        out["BatchSize"] = config["BatchSize"]
        out["MaximumBatchingWindowInSeconds"] = config["MaximumBatchingWindowInSeconds"]
        if mapping.kind == "dynamodb":
            out["ParallelizationFactor"] = config["ParallelizationFactor"]
        out["EventSourceArn"] = mapping.source_arn
        if config.get("FilterCriteria"):
            out["FilterCriteria"] = config["FilterCriteria"]
        out["FunctionArn"] = function_arn(
            mapping.region, mapping.account, mapping.function_name, mapping.qualifier
        )
        out["LastModified"] = datetime.fromtimestamp(mapping.last_modified, UTC)
        if mapping.kind == "dynamodb":
            out["LastProcessingResult"] = mapping.last_result or "No records processed"
        out["State"] = state
        out["StateTransitionReason"] = "USER_INITIATED" if mapping.kind == "sqs" else "User action"
        if mapping.kind == "dynamodb":
            out["DestinationConfig"] = config["DestinationConfig"]
            out["MaximumRecordAgeInSeconds"] = config["MaximumRecordAgeInSeconds"]
            out["BisectBatchOnFunctionError"] = config["BisectBatchOnFunctionError"]
            out["MaximumRetryAttempts"] = config["MaximumRetryAttempts"]
            out["TumblingWindowInSeconds"] = config["TumblingWindowInSeconds"]
        out["FunctionResponseTypes"] = list(config.get("FunctionResponseTypes") or [])
        if config.get("ScalingConfig"):
            out["ScalingConfig"] = config["ScalingConfig"]
        out["EventSourceMappingArn"] = (
            f"arn:aws:lambda:{mapping.region}:{mapping.account}:event-source-mapping:{mapping.uuid}"
        )
        return out

    def _esm_config(
        self, kind: str, params: dict[str, Any], base: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The mapping's configuration: ``base`` (or the defaults) with ``params`` applied, checked."""
        creating = base is None
        if kind == "sqs":
            for name in _STREAM_ONLY:
                if params.get(name) is not None:
                    raise InvalidParameterValue(
                        f"Unsupported {name} parameter for given event source mapping type."
                        if name != "StartingPosition"
                        else f"Unsupported starting position for arn type: {params.get('EventSourceArn', 'sqs')}"
                    )
        elif params.get("ScalingConfig"):
            raise InvalidParameterValue(
                "Unsupported ScalingConfig parameter for given event source mapping type."
            )
        config: dict[str, Any]
        if base is not None:
            config = dict(base)
        elif kind == "sqs":
            config = {"BatchSize": SQS_DEFAULT_BATCH, "MaximumBatchingWindowInSeconds": 0}
        else:
            config = {
                "BatchSize": STREAM_DEFAULT_BATCH,
                "MaximumBatchingWindowInSeconds": 0,
                "ParallelizationFactor": 1,
                "DestinationConfig": {"OnFailure": {}},
                "MaximumRecordAgeInSeconds": -1,
                "BisectBatchOnFunctionError": False,
                "MaximumRetryAttempts": -1,
                "TumblingWindowInSeconds": 0,
            }
        batch = _int_in(params, "BatchSize", 1, 10000)
        if batch is not None:
            config["BatchSize"] = batch
        window = _int_in(params, "MaximumBatchingWindowInSeconds", 0, 300)
        if window is not None:
            config["MaximumBatchingWindowInSeconds"] = window
        if (
            kind == "sqs"
            and config["BatchSize"] > 10
            and config["MaximumBatchingWindowInSeconds"] < 1
        ):
            raise InvalidParameterValue(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
            )
        types = params.get("FunctionResponseTypes")
        if types is not None:
            if (
                not isinstance(types, list)
                or any(t != "ReportBatchItemFailures" for t in types)
                or len(types) > 1
            ):
                raise ValidationError(
                    f"1 validation error detected: Value '{types}' at 'functionResponseTypes' failed to satisfy "
                    "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
                    "[ReportBatchItemFailures]]"
                )
            config["FunctionResponseTypes"] = list(types)
        criteria = params.get("FilterCriteria")
        if criteria is not None:
            if parse_filter_criteria(criteria):
                config["FilterCriteria"] = {
                    "Filters": [{"Pattern": f["Pattern"]} for f in criteria["Filters"]]
                }
            else:
                config.pop("FilterCriteria", None)
        scaling = params.get("ScalingConfig")
        if scaling is not None:
            concurrency = _int_in(scaling, "MaximumConcurrency", 2, 1000)
            if concurrency is None:
                config.pop("ScalingConfig", None)
            else:
                config["ScalingConfig"] = {"MaximumConcurrency": concurrency}
        if kind == "dynamodb":
            self._esm_stream_config(config, params, creating)
        return config

    @staticmethod
    def _esm_stream_config(config: dict[str, Any], params: dict[str, Any], creating: bool) -> None:
        if creating:
            position = params.get("StartingPosition")
            if position is None:
                raise InvalidParameterValue(
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
                    "constraint: Member must not be null."
                )
            if position not in ("TRIM_HORIZON", "LATEST"):
                raise InvalidParameterValue(
                    f"Unsupported starting position for arn type: {params['EventSourceArn']}"
                )
            config["StartingPosition"] = position
        if params.get("StartingPositionTimestamp") is not None:
            raise InvalidParameterValue(
                "StartingPositionTimestamp is only supported with AT_TIMESTAMP."
            )
        factor = _int_in(params, "ParallelizationFactor", 1, 10)
        if factor is not None:
            config["ParallelizationFactor"] = factor
        retries = _int_in(params, "MaximumRetryAttempts", -1, 10000)
        if retries is not None:
            config["MaximumRetryAttempts"] = retries
        age = _int_in(params, "MaximumRecordAgeInSeconds", -1, 604800)
        if age is not None:
            if age != -1 and age < 60:
                raise InvalidParameterValue(
                    "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800."
                )
            config["MaximumRecordAgeInSeconds"] = age
        tumbling = _int_in(params, "TumblingWindowInSeconds", 0, 900)
        if tumbling is not None:
            config["TumblingWindowInSeconds"] = tumbling
        bisect = params.get("BisectBatchOnFunctionError")
        if bisect is not None:
            config["BisectBatchOnFunctionError"] = bool(bisect)
        destination = params.get("DestinationConfig")
        if destination is not None:
            if destination.get("OnSuccess"):
                raise InvalidParameterValue(
                    "Unsupported OnSuccess destination for given event source mapping type."
                )
            target = (destination.get("OnFailure") or {}).get("Destination")
            if target and not _DESTINATION_ARN.fullmatch(target):
                raise InvalidParameterValue(
                    f"The provided destination config DestinationConfig(onSuccess=null, onFailure="
                    f"OnFailure(destination={target})) is invalid."
                )
            config["DestinationConfig"] = {"OnFailure": {"Destination": target} if target else {}}

    async def _esm_check_source(
        self, ctx: RequestContext, kind: str, arn: str, config: dict[str, Any]
    ) -> None:
        """Check the event source exists (when a cross-service client is wired)."""
        if self.call is None:
            return
        if kind == "sqs":
            match = _SQS_ARN.fullmatch(arn)
            assert match is not None
            try:
                url = await self.call(
                    "sqs",
                    "GetQueueUrl",
                    {"QueueName": match["name"], "QueueOwnerAWSAccountId": match["account"]},
                    region=match["region"],
                    account_id=match["account"],
                )
            except ServiceError as exc:
                if exc.status is not None and exc.status >= 500:
                    return
                raise InvalidParameterValue(
                    "Error occurred while ReceiveMessage. SQS Error Code: "
                    "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: "
                    "The specified queue does not exist for this wsdl version."
                ) from None
            if match["name"].endswith(".fifo") and config["BatchSize"] > 10:
                raise InvalidParameterValue("Batch size for FIFO queues must be between 1 and 10.")
            del url
            return
        try:
            await self.call(
                "dynamodbstreams",
                "DescribeStream",
                {"StreamArn": arn, "Limit": 1},
                region=ctx.region,
                account_id=ctx.account_id,
            )
        except ServiceError as exc:
            if exc.status is not None and exc.status >= 500:
                return
            raise InvalidParameterValue(f"Stream not found: {arn}") from None


def _parse_marker(marker: Any) -> tuple[float, str] | None:
    if not marker:
        return None
    try:
        created, uuid = str(marker).split(":", 1)
        return float(created), uuid
    except ValueError:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from None
