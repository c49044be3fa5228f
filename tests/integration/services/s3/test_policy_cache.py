"""A function's resource policy, as S3 notifications and GetPolicy see it, is never stale.

Lambda keeps what it read of ``lambda.db`` (the policy S3 checks on every event,
the resolution of an invoked name) until the next write that may change it;
these tests change the policy between events and check each change is seen by
the very next event or call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.integration.services.s3.test_notifications import make_zip, recorder, wait_records


def keys_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [r["s3"]["object"]["key"] for line in path.read_text().splitlines() for r in json.loads(line)["Records"]]


def test_permission_change_is_seen_by_the_next_event(s3: Any, aws_client: Any, bucket: str,
                                                     tmp_path: Path) -> None:
    lam = aws_client("lambda")
    watched_events, sentinel_events = tmp_path / "watched.jsonl", tmp_path / "sentinel.jsonl"
    watched = recorder(lam, watched_events, bucket)
    sentinel = recorder(lam, sentinel_events, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": watched, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "data/"}]}}},
            {"LambdaFunctionArn": sentinel, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "sentinel/"}]}}},
        ]})

    for i in range(3):  # allowed events, one after another (the policy is read, then reused)
        s3.put_object(Bucket=bucket, Key=f"data/allowed-{i}", Body=b"x")
        wait_records(watched_events, i + 1)

    lam.remove_permission(FunctionName=watched, StatementId="s3")
    s3.put_object(Bucket=bucket, Key="data/dropped", Body=b"x")
    # The sentinel's event is sent after the dropped one was checked and dropped.
    s3.put_object(Bucket=bucket, Key="sentinel/1", Body=b"x")
    wait_records(sentinel_events, 1)
    assert keys_in(watched_events) == ["data/allowed-0", "data/allowed-1", "data/allowed-2"]

    lam.add_permission(FunctionName=watched, StatementId="s3-again", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    s3.put_object(Bucket=bucket, Key="data/allowed-again", Body=b"x")
    wait_records(watched_events, 4)
    assert keys_in(watched_events)[3] == "data/allowed-again"

    # A permission for another bucket only: the next event is dropped again.
    lam.remove_permission(FunctionName=watched, StatementId="s3-again")
    lam.add_permission(FunctionName=watched, StatementId="other", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::some-other-bucket")
    s3.put_object(Bucket=bucket, Key="data/dropped-again", Body=b"x")
    s3.put_object(Bucket=bucket, Key="sentinel/2", Body=b"x")
    wait_records(sentinel_events, 2)
    assert "data/dropped-again" not in keys_in(watched_events)


def test_get_policy_is_current_between_async_invokes(aws_client: Any, tmp_path: Path) -> None:
    lam = aws_client("lambda")
    name = "policy-cache"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip("def handler(event, context):\n    return 1\n")})
    with pytest.raises(ClientError) as missing:
        lam.get_policy(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    for sid in ("a", "b"):
        lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")  # writes only the async queue
        found = lam.get_policy(FunctionName=name)
        assert [s["Sid"] for s in json.loads(found["Policy"])["Statement"]][-1] == sid
        again = lam.get_policy(FunctionName=name)
        assert (again["Policy"], again["RevisionId"]) == (found["Policy"], found["RevisionId"])

    revision = lam.get_policy(FunctionName=name)["RevisionId"]
    lam.update_function_configuration(FunctionName=name, Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.get_policy(FunctionName=name)["RevisionId"] != revision

    lam.remove_permission(FunctionName=name, StatementId="a")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]] == ["b"]

    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as gone:
        lam.get_policy(FunctionName=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip("def handler(event, context):\n    return 2\n")})
    with pytest.raises(ClientError) as fresh:
        lam.get_policy(FunctionName=name)
    assert fresh.value.response["Error"]["Code"] == "ResourceNotFoundException"
