"""Pure rule logic: notification matching/validation, CORS answers, bucket policy evaluation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloudlet.errors import ServiceError
from cloudlet.services.s3 import cors, policy
from cloudlet.services.s3.base import ObjectRow
from cloudlet.services.s3.lifecycle import applies, rule_filter
from cloudlet.services.s3.notify_rules import event_matches, targets_for, validate_notification

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def test_event_matching() -> None:
    assert event_matches("s3:ObjectCreated:*", "ObjectCreated:Put")
    assert event_matches("s3:ObjectCreated:*", "ObjectCreated:CompleteMultipartUpload")
    assert event_matches("s3:ObjectRemoved:Delete", "ObjectRemoved:Delete")
    assert not event_matches("s3:ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated")
    assert not event_matches("s3:ObjectCreated:*", "ObjectRemoved:Delete")


def test_targets_with_filters_and_generated_ids() -> None:
    config: dict[str, Any] = {"LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "img/"},
                                            {"Name": "suffix", "Value": ".jpg"}]}}}],
        "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                                 "Events": ["s3:ObjectRemoved:*"]}]}
    validate_notification(config)
    assert config["LambdaFunctionConfigurations"][0]["Id"]
    assert [t.kind for t in targets_for(config, "ObjectCreated:Put", "img/a.jpg")] == ["lambda"]
    assert targets_for(config, "ObjectCreated:Put", "img/a.png") == []
    assert targets_for(config, "ObjectCreated:Put", "other/a.jpg") == []
    assert [t.kind for t in targets_for(config, "ObjectRemoved:Delete", "x")] == ["sqs"]
    assert targets_for(None, "ObjectCreated:Put", "x") == []


@pytest.mark.parametrize("second, clash", [
    ({"Events": ["s3:ObjectCreated:Put"]}, True),
    ({"Events": ["s3:ObjectRemoved:*"]}, False),
    ({"Events": ["s3:ObjectCreated:Put"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "b/"}]}}},
     False),
    ({"Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/x"}]}}},
     True),
])
def test_overlap(second: dict[str, Any], clash: bool) -> None:
    first = {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}}}
    config = {"LambdaFunctionConfigurations": [first, {"LambdaFunctionArn": ARN, **second}]}
    if clash:
        with pytest.raises(ServiceError) as exc:
            validate_notification(config)
        assert exc.value.code == "InvalidArgument"
    else:
        validate_notification(config)


def test_bad_filter_rules() -> None:
    for rules in ([{"Name": "middle", "Value": "x"}], [{"Name": "prefix", "Value": "a"}, {"Name": "prefix",
                                                                                          "Value": "b"}]):
        with pytest.raises(ServiceError):
            validate_notification({"LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": rules}}}]})


RULES: list[dict[str, Any]] = [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
          "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60},
         {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]


def test_cors_preflight() -> None:
    status, headers, code = cors.preflight(RULES, {
        "origin": "https://app.example.com", "access-control-request-method": "PUT",
        "access-control-request-headers": "Content-Type, X-Amz-Date"})
    assert (status, code) == (200, None)
    values = dict(headers)
    assert values["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert values["Access-Control-Allow-Methods"] == "GET, PUT"
    assert values["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert values["Access-Control-Max-Age"] == "60"
    assert values["Access-Control-Expose-Headers"] == "ETag"
    assert values["Access-Control-Allow-Credentials"] == "true"
    # Falls through to the wildcard rule for GET from anywhere.
    status, headers, _ = cors.preflight(RULES, {"origin": "https://evil.test", "access-control-request-method": "GET"})
    assert status == 200 and dict(headers)["Access-Control-Allow-Origin"] == "*"
    assert cors.preflight(RULES, {"origin": "https://evil.test", "access-control-request-method": "PUT"})[0] == 403
    assert cors.preflight(None, {"origin": "https://a", "access-control-request-method": "GET"})[2] == \
        "CORSNotEnabled"
    assert cors.preflight(RULES, {"access-control-request-method": "GET"})[0] == 400
    assert cors.actual(RULES, "GET", {"origin": "https://a.example.com"})[0] == \
        ("Access-Control-Allow-Origin", "https://a.example.com")
    assert cors.actual(RULES, "DELETE", {"origin": "https://a.example.com"}) == []
    assert cors.actual(RULES, "GET", {}) == []


def test_policy_evaluation() -> None:
    doc = policy.validate('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], '
                          '"Resource": "arn:aws:s3:::b/pub/*"}, {"Effect": "Deny", "Principal": {"AWS": '
                          '"arn:aws:iam::111111111111:root"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}')
    assert policy.evaluate(doc, None, "s3:GetObject", "arn:aws:s3:::b/pub/x") == "Allow"
    assert policy.evaluate(doc, None, "s3:GetObject", "arn:aws:s3:::b/priv/x") is None
    assert policy.evaluate(doc, None, "s3:PutObject", "arn:aws:s3:::b/pub/x") is None
    assert policy.evaluate(doc, "111111111111", "s3:GetObject", "arn:aws:s3:::b/pub/x") == "Deny"
    assert policy.action_for("HeadObject") == "s3:GetObject"
    assert policy.action_for("GetObject", versioned=True) == "s3:GetObjectVersion"
    assert policy.action_for("ListObjectsV2") == "s3:ListBucket"
    for bad in ("nope", "{}", '{"Statement": [{"Effect": "Maybe"}]}'):
        with pytest.raises(ServiceError) as exc:
            policy.validate(bad)
        assert exc.value.code == "MalformedPolicy"
    conditional = policy.validate('{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", '
                                  '"Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}')
    assert policy.evaluate(conditional, None, "s3:GetObject", "arn:aws:s3:::b/k") is None


def _obj(key: str, size: int = 10, tags: dict[str, str] | None = None) -> ObjectRow:
    return ObjectRow("b", key, "null", 1, True, False, size, '"e"', 0.0, None, {}, tags or {})


def test_lifecycle_filters() -> None:
    rule = {"Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "t", "Value": "1"}],
                               "ObjectSizeGreaterThan": 5}}}
    assert rule_filter(rule)[0] == "logs/"
    assert applies(rule, _obj("logs/a", tags={"t": "1"}))
    assert not applies(rule, _obj("logs/a"))
    assert not applies(rule, _obj("logs/a", size=3, tags={"t": "1"}))
    assert not applies(rule, _obj("other", tags={"t": "1"}))
    assert applies({"Prefix": ""}, _obj("anything"))
    assert asyncio.iscoroutinefunction(cors.CorsMixin.cors_preflight)
