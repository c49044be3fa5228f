"""Handlers for the non-function resource types: S3, SQS, SNS, DynamoDB, HTTP APIs, no-ops.

Each handler gets the resource's properties with intrinsics already evaluated
and returns a :class:`Deployed` (Ref value + GetAtt attributes).  All of them
are idempotent: names are deterministic (``<stack>-<LogicalId>`` unless the
template names the resource), an existing resource is found by that name and
updated where the service allows it, and never deleted or re-created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cloudlet.deploy.context import DeployContext, Deployed
from cloudlet.deploy.intrinsics import TemplateError
from cloudlet.deploy.template import REST_AS_HTTP_API

Handler = Callable[[DeployContext, str, dict[str, Any]], Deployed]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- S3 ------------------------------------------------------------------------------------


def deploy_bucket(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    s3 = ctx.client("s3")
    name = props.get("BucketName") or ctx.physical_name(logical_id, 63, lower=True)
    action = "unchanged"
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": name}
        if ctx.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        s3.create_bucket(**kwargs)
        action = "created"
    if "VersioningConfiguration" in props:
        status = props["VersioningConfiguration"].get("Status", "Enabled")
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    if "CorsConfiguration" in props:
        rules = [_cors_rule(r) for r in props["CorsConfiguration"].get("CorsRules", [])]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    ctx.bucket_notifications.setdefault(name, {})
    add_bucket_notifications(ctx, name, props.get("NotificationConfiguration") or {})
    return Deployed(
        logical_id,
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.amazonaws.com",
        },
        action,
    )


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renames = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
    return {renames.get(k, k): v for k, v in rule.items()}


_NOTIFICATION_KINDS = {
    # CloudFormation list → (API list, CloudFormation target key, API target key)
    "TopicConfigurations": ("TopicConfigurations", "Topic", "TopicArn"),
    "QueueConfigurations": ("QueueConfigurations", "Queue", "QueueArn"),
    "LambdaConfigurations": ("LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
}


def notification_filter(cfn_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudFormation ``{S3Key: {Rules: […]}}`` → API ``{Key: {FilterRules: […]}}``."""
    if not cfn_filter:
        return None
    rules = (cfn_filter.get("S3Key") or {}).get("Rules") or []
    return {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}


def add_bucket_notifications(ctx: DeployContext, bucket: str, cfn: dict[str, Any]) -> None:
    config = ctx.bucket_notifications.setdefault(bucket, {})
    for cfn_key, (api_key, target_key, api_target) in _NOTIFICATION_KINDS.items():
        for item in cfn.get(cfn_key) or []:
            entry: dict[str, Any] = {api_target: item[target_key], "Events": [item["Event"]]}
            found = notification_filter(item.get("Filter"))
            if found:
                entry["Filter"] = found
            config.setdefault(api_key, []).append(entry)
    if (cfn.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        config["EventBridgeConfiguration"] = {}


def apply_bucket_notifications(ctx: DeployContext) -> None:
    """Put each template bucket's whole notification configuration (it replaces the old one)."""
    s3 = ctx.client("s3")
    for bucket, config in ctx.bucket_notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=config, SkipDestinationValidation=True
        )
        if config:
            ctx.log(f"  notifications of bucket {bucket}: {', '.join(sorted(config))}")


# -- SQS -----------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def deploy_queue(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    sqs = ctx.client("sqs")
    fifo = _attribute_text(props.get("FifoQueue", False)) == "true"
    name = props.get("QueueName") or ctx.physical_name(logical_id, 80, suffix=".fifo" if fifo else "")
    attributes = {k: _attribute_text(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistent" not in error_code(exc) and "NotFound" not in error_code(exc):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        action = "created"
    else:
        changeable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
        if changeable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=changeable)
        action = "updated"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Deployed(
        logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueUrl": url, "QueueName": name}, action
    )


# -- SNS -----------------------------------------------------------------------------------


def deploy_topic(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    sns = ctx.client("sns")
    fifo = _attribute_text(props.get("FifoTopic", False)) == "true"
    name = props.get("TopicName") or ctx.physical_name(logical_id, 256, suffix=".fifo" if fifo else "")
    create_attrs = {"FifoTopic": "true"} if fifo else {}
    arn = sns.create_topic(Name=name, Attributes=create_attrs)["TopicArn"]
    for key in ("DisplayName", "ContentBasedDeduplication", "KmsMasterKeyId", "SignatureVersion"):
        if key in props:
            sns.set_topic_attributes(
                TopicArn=arn, AttributeName=key, AttributeValue=_attribute_text(props[key])
            )
    for sub in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        if sub["Protocol"] == "lambda":
            allow_invoke(ctx, sub["Endpoint"], "sns.amazonaws.com", arn)
    return Deployed(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, "ensured")


_SUBSCRIPTION_ATTRIBUTES = (
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
)


def deploy_subscription(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    sns = ctx.client("sns")
    arn = sns.subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    for key in _SUBSCRIPTION_ATTRIBUTES:
        if key in props:
            sns.set_subscription_attributes(
                SubscriptionArn=arn, AttributeName=key, AttributeValue=_attribute_text(props[key])
            )
    if props["Protocol"] == "lambda":
        allow_invoke(ctx, props["Endpoint"], "sns.amazonaws.com", props["TopicArn"])
    return Deployed(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn}, "ensured")


def allow_invoke(ctx: DeployContext, function: str, principal: str, source_arn: str) -> None:
    """Add the resource-based permission SAM would add; an existing one is fine."""
    statement = "cloudlet-" + hashlib.sha256(f"{principal}|{source_arn}".encode()).hexdigest()[:16]
    try:
        ctx.client("lambda").add_permission(
            FunctionName=function,
            StatementId=statement,
            Action="lambda:InvokeFunction",
            Principal=principal,
            SourceArn=source_arn,
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceConflictException":
            raise


# -- DynamoDB ------------------------------------------------------------------------------

_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "SSESpecification",
    "TableClass",
    "DeletionProtectionEnabled",
    "Tags",
)


def deploy_table(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    ddb = ctx.client("dynamodb")
    name = props.get("TableName") or ctx.physical_name(logical_id, 255)
    try:
        table = ddb.describe_table(TableName=name)["Table"]
        action = "unchanged"
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        kwargs: dict[str, Any] = {k: props[k] for k in _TABLE_KEYS if k in props}
        if "ProvisionedThroughput" not in kwargs:
            kwargs.setdefault("BillingMode", "PAY_PER_REQUEST")
        if kwargs.get("SSESpecification"):
            kwargs["SSESpecification"] = {"Enabled": bool(kwargs["SSESpecification"].get("SSEEnabled"))}
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        ddb.create_table(TableName=name, **kwargs)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        table = ddb.describe_table(TableName=name)["Table"]
        action = "created"
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Deployed(logical_id, "AWS::DynamoDB::Table", name, attributes, action)


_KEY_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


def simple_table_properties(props: dict[str, Any]) -> dict[str, Any]:
    """``AWS::Serverless::SimpleTable`` → ``AWS::DynamoDB::Table`` properties (SAM's defaults)."""
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    if key.get("Type", "String") not in _KEY_TYPES:
        raise TemplateError(f"SimpleTable PrimaryKey Type must be String, Number or Binary: {key}")
    out: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": key["Name"], "AttributeType": _KEY_TYPES[key.get("Type", "String")]}
        ],
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
    }
    if props.get("ProvisionedThroughput"):
        out["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        out["BillingMode"] = "PROVISIONED"
    else:
        out["BillingMode"] = "PAY_PER_REQUEST"
    for k in ("TableName", "Tags", "SSESpecification"):
        if k in props:
            out[k] = props[k]
    return out


def deploy_simple_table(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployed = deploy_table(ctx, logical_id, simple_table_properties(props))
    deployed.type = "AWS::Serverless::SimpleTable"
    return deployed


# -- HTTP APIs -----------------------------------------------------------------------------


def deploy_http_api(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    """``AWS::Serverless::HttpApi`` (and SAM's implicit REST API, served as an HTTP API)."""
    v2 = ctx.client("apigatewayv2")
    rest = props.get("_RestApi", False)
    name = props.get("Name") or ctx.physical_name(logical_id, 128)
    stage = props.get("StageName") or ("Prod" if rest else "$default")
    existing = [a for a in _all_apis(v2) if a.get("Name") == name]
    kwargs: dict[str, Any] = {}
    cors = props.get("CorsConfiguration")
    if isinstance(cors, dict):
        kwargs["CorsConfiguration"] = cors
    elif cors is True:
        kwargs["CorsConfiguration"] = {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}
    if existing:
        api = existing[0]
        if kwargs:
            api = v2.update_api(ApiId=api["ApiId"], **kwargs)
        action = "updated"
    else:
        api = v2.create_api(Name=name, ProtocolType="HTTP", **kwargs)
        action = "created"
    api_id = api["ApiId"]
    stage_kwargs: dict[str, Any] = {}
    if props.get("StageVariables"):
        stage_kwargs["StageVariables"] = {k: str(v) for k, v in props["StageVariables"].items()}
    try:
        v2.get_stage(ApiId=api_id, StageName=stage)
        if stage_kwargs:
            v2.update_stage(ApiId=api_id, StageName=stage, **stage_kwargs)
    except ClientError as exc:
        if error_code(exc) != "NotFoundException":
            raise
        v2.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True, **stage_kwargs)
    resource_type = REST_AS_HTTP_API if rest else "AWS::Serverless::HttpApi"
    return Deployed(
        logical_id,
        resource_type,
        api_id,
        {
            "ApiEndpoint": api["ApiEndpoint"],
            "ApiId": api_id,
            "_Stage": stage,
            "_PayloadFormatVersion": "1.0" if rest else "2.0",
        },
        action,
    )


def deploy_rest_api(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
    deployed = deploy_http_api(ctx, logical_id, {**props, "_RestApi": True})
    deployed.note = "REST API served as an HTTP API with payload format 1.0"
    return deployed


def _all_apis(v2: Any) -> list[dict[str, Any]]:
    apis: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = v2.get_apis(**kwargs)
        apis.extend(page.get("Items", []))
        if not page.get("NextToken"):
            return apis
        kwargs["NextToken"] = page["NextToken"]


# -- accepted, not enforced ----------------------------------------------------------------


def record_only(resource_type: str, note: str) -> Handler:
    def handler(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> Deployed:
        name = props.get("RoleName") or props.get("PolicyName") or ctx.physical_name(logical_id, 64)
        attributes: dict[str, Any] = {}
        if resource_type == "AWS::IAM::Role":
            attributes = {"Arn": f"arn:aws:iam::{ctx.account_id}:role/{name}", "RoleId": name}
        return Deployed(logical_id, resource_type, name, attributes, "recorded", note)

    return handler


NOT_ENFORCED = "accepted and recorded; Cloudlet does not enforce IAM or resource policies"

HANDLERS: dict[str, Handler] = {
    "AWS::S3::Bucket": deploy_bucket,
    "AWS::SQS::Queue": deploy_queue,
    "AWS::SNS::Topic": deploy_topic,
    "AWS::SNS::Subscription": deploy_subscription,
    "AWS::DynamoDB::Table": deploy_table,
    "AWS::Serverless::SimpleTable": deploy_simple_table,
    "AWS::Serverless::HttpApi": deploy_http_api,
    "AWS::Serverless::Api": deploy_rest_api,
    REST_AS_HTTP_API: deploy_rest_api,
    **{
        t: record_only(t, NOT_ENFORCED)
        for t in (
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::S3::BucketPolicy",
            "AWS::Lambda::Permission",
        )
    },
}
