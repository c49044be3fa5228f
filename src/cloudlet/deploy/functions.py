"""``AWS::Serverless::Function``: code packaging, create/update, and its ``Events``.

CodeUri is a directory (relative to the template) zipped as ``zip -r`` from
inside it would; InlineCode becomes ``index.py``.  A re-deploy uploads code
only when the zip's SHA-256 changed, then updates the configuration.

Events map to the calls SAM's generated resources make:

* ``SQS`` / ``DynamoDB`` / ``Kinesis`` → CreateEventSourceMapping (found again by
  function + source ARN and updated on re-deploy);
* ``SNS`` → Subscribe (protocol ``lambda``);
* ``S3`` → a LambdaFunctionConfiguration added to the bucket's notification
  configuration (applied once all resources exist);
* ``HttpApi`` / ``Api`` → an AWS_PROXY integration and a route on the HTTP API
  (the referenced one or SAM's implicit ``ServerlessHttpApi`` / ``ServerlessRestApi``);
* ``Schedule`` / ``CloudWatchEvent`` / ``EventBridgeRule`` → PutRule + PutTargets;
  ``ScheduleV2`` → EventBridge Scheduler CreateSchedule / UpdateSchedule.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cloudlet.deploy.context import DeployContext, Deployed
from cloudlet.deploy.intrinsics import TemplateError
from cloudlet.deploy.resources import add_bucket_notifications, allow_invoke, error_code
from cloudlet.deploy.template import IMPLICIT_HTTP_API, IMPLICIT_REST_API

_WAIT = {"Delay": 1, "MaxAttempts": 120}


def zip_directory(path: Path) -> bytes:
    """Zip a folder as ``zip -r`` from inside it would, with fixed timestamps (stable SHA-256)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if any(part in ("__pycache__", ".git") for part in rel.parts) or not file.is_file():
                continue
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (file.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, file.read_bytes())
    return buf.getvalue()


def package_code(ctx: DeployContext, props: dict[str, Any]) -> bytes:
    if "InlineCode" in props:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(zipfile.ZipInfo("index.py", (1980, 1, 1, 0, 0, 0)), str(props["InlineCode"]))
        return buf.getvalue()
    code_uri = props.get("CodeUri", ".")
    if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
        raise TemplateError(f"CodeUri must be a local directory, got {code_uri!r}")
    directory = (ctx.template.base_dir / code_uri).resolve()
    if not directory.is_dir():
        raise TemplateError(f"CodeUri {code_uri!r} is not a directory next to the template")
    return zip_directory(directory)


def function_configuration(ctx: DeployContext, name: str, props: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Handler": props.get("Handler", "index.handler"),
        "Runtime": props.get("Runtime", "python3.12"),
        "Role": props.get("Role") or f"arn:aws:iam::{ctx.account_id}:role/{name}-role",
    }
    for key in ("MemorySize", "Timeout"):
        if key in props:
            config[key] = int(props[key])
    if "Description" in props:
        config["Description"] = str(props["Description"])
    variables = (props.get("Environment") or {}).get("Variables") or {}
    config["Environment"] = {"Variables": {k: _env_text(v) for k, v in variables.items()}}
    if props.get("Layers"):
        config["Layers"] = list(props["Layers"])
    if props.get("DeadLetterQueue"):
        config["DeadLetterConfig"] = {"TargetArn": props["DeadLetterQueue"]["TargetArn"]}
    if props.get("EphemeralStorage"):
        config["EphemeralStorage"] = props["EphemeralStorage"]
    return config


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def deploy_function(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    lam = ctx.client("lambda")
    name = props.get("FunctionName") or ctx.physical_name(logical_id, 64)
    code = package_code(ctx, props)
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    config = function_configuration(ctx, name, props)
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        extra = {"Architectures": props["Architectures"]} if props.get("Architectures") else {}
        result = lam.create_function(FunctionName=name, Code={"ZipFile": code}, **config, **extra)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=_WAIT)
        action = "created"
    else:
        if current.get("CodeSha256") != sha:
            lam.update_function_code(FunctionName=name, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=_WAIT)
        result = lam.update_function_configuration(FunctionName=name, **config)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=_WAIT)
        action = "updated"
    if "ReservedConcurrentExecutions" in props:
        lam.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"])
        )
    arn = result["FunctionArn"]
    deployed = Deployed(logical_id, "AWS::Serverless::Function", name, {"Arn": arn}, action)
    ctx.deployed[logical_id] = deployed
    for event_id, event in (props.get("Events") or {}).items():
        kind = event.get("Type")
        handler = EVENT_HANDLERS.get(kind)
        if handler is None:
            raise TemplateError(f"{logical_id}.Events.{event_id}: event type {kind!r} is not supported")
        description = handler(ctx, deployed, event_id, event.get("Properties") or {})
        ctx.log(f"  {logical_id}.{event_id} ({kind}): {description}")
    return deployed


# -- events ----------------------------------------------------------------------------------

EventHandler = Callable[[DeployContext, Deployed, str, dict[str, Any]], str]

_ESM_KEYS = (
    "BatchSize",
    "Enabled",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "FilterCriteria",
    "ScalingConfig",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "ParallelizationFactor",
    "DestinationConfig",
    "TumblingWindowInSeconds",
)


def _event_source_mapping(
    ctx: DeployContext, fn: Deployed, source_arn: str, props: dict[str, Any]
) -> str:
    lam = ctx.client("lambda")
    kwargs = {k: _esm_value(k, props[k]) for k in _ESM_KEYS if k in props}
    existing = lam.list_event_source_mappings(FunctionName=fn.physical_id, EventSourceArn=source_arn)
    mappings = existing.get("EventSourceMappings", [])
    if mappings:
        uuid = mappings[0]["UUID"]
        if kwargs:
            lam.update_event_source_mapping(UUID=uuid, FunctionName=fn.physical_id, **kwargs)
        return f"event source mapping {uuid} updated"
    if "StartingPosition" in props:
        kwargs["StartingPosition"] = props["StartingPosition"]
    uuid = lam.create_event_source_mapping(
        FunctionName=fn.physical_id, EventSourceArn=source_arn, **kwargs
    )["UUID"]
    return f"event source mapping {uuid} created"


_ESM_INTEGERS = frozenset(
    {
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "ParallelizationFactor",
        "TumblingWindowInSeconds",
    }
)


def _esm_value(key: str, value: Any) -> Any:
    """Template values may be strings (``!Ref`` of a Number parameter); boto3 wants int/bool."""
    if key in _ESM_INTEGERS:
        return int(value)
    if key in ("Enabled", "BisectBatchOnFunctionError"):
        return _env_text(value).lower() == "true"
    return value


def sqs_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    return _event_source_mapping(ctx, fn, props["Queue"], props)


def stream_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    return _event_source_mapping(ctx, fn, props["Stream"], props)


def sns_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    sns = ctx.client("sns")
    topic = props["Topic"]
    allow_invoke(ctx, fn.attributes["Arn"], "sns.amazonaws.com", topic)
    arn = sns.subscribe(
        TopicArn=topic, Protocol="lambda", Endpoint=fn.attributes["Arn"], ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    for key in ("FilterPolicy", "FilterPolicyScope", "RedrivePolicy"):
        if key in props:
            value = props[key]
            sns.set_subscription_attributes(
                SubscriptionArn=arn,
                AttributeName=key,
                AttributeValue=value if isinstance(value, str) else json.dumps(value),
            )
    return f"subscribed to {topic}"


def s3_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    bucket = props["Bucket"]
    events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
    allow_invoke(ctx, fn.attributes["Arn"], "s3.amazonaws.com", f"arn:aws:s3:::{bucket}")
    add_bucket_notifications(
        ctx,
        bucket,
        {
            "LambdaConfigurations": [
                {"Function": fn.attributes["Arn"], "Event": e, **({"Filter": props["Filter"]} if props.get("Filter") else {})}
                for e in events
            ]
        },
    )
    return f"notification from bucket {bucket} ({', '.join(events)})"


def _api(ctx: DeployContext, api_id: str | None, implicit: str) -> Deployed:
    if api_id is None:
        return ctx.deployed[implicit]
    for deployed in ctx.deployed.values():
        if deployed.physical_id == api_id and "ApiEndpoint" in deployed.attributes:
            return deployed
    raise TemplateError(f"API {api_id} is not an HttpApi of this template")


def api_event(
    ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any], *, rest: bool = False
) -> str:
    v2 = ctx.client("apigatewayv2")
    api = _api(ctx, props.get("RestApiId" if rest else "ApiId"), IMPLICIT_REST_API if rest else IMPLICIT_HTTP_API)
    api_id = api.physical_id
    method, path = props.get("Method"), props.get("Path")
    route_key = "$default" if not method and not path else f"{_method(method)} {path or '/'}"
    fn_arn = fn.attributes["Arn"]
    version = str(props.get("PayloadFormatVersion") or api.attributes["_PayloadFormatVersion"])
    integration_id = None
    for item in v2.get_integrations(ApiId=api_id).get("Items", []):
        if item.get("IntegrationUri") == fn_arn and item.get("PayloadFormatVersion") == version:
            integration_id = item["IntegrationId"]
    if integration_id is None:
        integration_id = v2.create_integration(
            ApiId=api_id,
            IntegrationType="AWS_PROXY",
            IntegrationUri=fn_arn,
            PayloadFormatVersion=version,
            **({"TimeoutInMillis": int(props["TimeoutInMillis"])} if "TimeoutInMillis" in props else {}),
        )["IntegrationId"]
    target = f"integrations/{integration_id}"
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id).get("Items", [])}
    if route_key in routes:
        v2.update_route(ApiId=api_id, RouteId=routes[route_key]["RouteId"], Target=target)
    else:
        v2.create_route(ApiId=api_id, RouteKey=route_key, Target=target)
    allow_invoke(ctx, fn_arn, "apigateway.amazonaws.com", ctx.arn("execute-api", f"{api_id}/*"))
    return f"route {route_key} on API {api_id}"


def rest_api_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    return api_event(ctx, fn, event_id, props, rest=True)


def _method(method: Any) -> str:
    text = str(method or "ANY").upper()
    return "ANY" if text in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else text


def _rule_name(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    if props.get("Name"):
        return str(props["Name"])
    return ctx.physical_name(f"{fn.logical_id}{event_id}", 64)


def _enabled(props: dict[str, Any]) -> bool:
    if "State" in props:
        return str(props["State"]).upper() == "ENABLED"
    return _env_text(props.get("Enabled", True)) == "true"


def rule_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    events = ctx.client("events")
    name = _rule_name(ctx, fn, event_id, props)
    kwargs: dict[str, Any] = {"Name": name, "State": "ENABLED" if _enabled(props) else "DISABLED"}
    if "Schedule" in props:
        kwargs["ScheduleExpression"] = props["Schedule"]
    if "Pattern" in props:
        kwargs["EventPattern"] = json.dumps(props["Pattern"])
    if props.get("EventBusName"):
        kwargs["EventBusName"] = props["EventBusName"]
    if props.get("Description"):
        kwargs["Description"] = props["Description"]
    rule_arn = events.put_rule(**kwargs)["RuleArn"]
    target: dict[str, Any] = {"Id": props.get("Target", {}).get("Id") or f"{fn.logical_id}{event_id}"[:64], "Arn": fn.attributes["Arn"]}
    if "Input" in props:
        target["Input"] = props["Input"]
    if "InputPath" in props:
        target["InputPath"] = props["InputPath"]
    bus = {"EventBusName": props["EventBusName"]} if props.get("EventBusName") else {}
    events.put_targets(Rule=name, Targets=[target], **bus)
    allow_invoke(ctx, fn.attributes["Arn"], "events.amazonaws.com", rule_arn)
    what = props.get("Schedule") or "event pattern"
    return f"rule {name} ({what}, {kwargs['State'].lower()})"


def schedule_v2_event(ctx: DeployContext, fn: Deployed, event_id: str, props: dict[str, Any]) -> str:
    scheduler = ctx.client("scheduler")
    name = _rule_name(ctx, fn, event_id, props)
    target: dict[str, Any] = {
        "Arn": fn.attributes["Arn"],
        "RoleArn": props.get("RoleArn") or f"arn:aws:iam::{ctx.account_id}:role/{name}-role",
    }
    if "Input" in props:
        target["Input"] = props["Input"]
    kwargs: dict[str, Any] = {
        "Name": name,
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
        "Target": target,
        "State": "ENABLED" if _enabled(props) else "DISABLED",
    }
    for key in ("GroupName", "ScheduleExpressionTimezone", "Description", "StartDate", "EndDate"):
        if key in props:
            kwargs[key] = props[key]
    try:
        scheduler.create_schedule(**kwargs)
        verb = "created"
    except ClientError as exc:
        if error_code(exc) != "ConflictException":
            raise
        scheduler.update_schedule(**kwargs)
        verb = "updated"
    return f"schedule {name} {verb} ({props['ScheduleExpression']})"


EVENT_HANDLERS: dict[str, EventHandler] = {
    "SQS": sqs_event,
    "DynamoDB": stream_event,
    "Kinesis": stream_event,
    "SNS": sns_event,
    "S3": s3_event,
    "HttpApi": api_event,
    "Api": rest_api_event,
    "Schedule": rule_event,
    "CloudWatchEvent": rule_event,
    "EventBridgeRule": rule_event,
    "ScheduleV2": schedule_v2_event,
}
