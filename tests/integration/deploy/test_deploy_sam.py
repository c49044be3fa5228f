"""``cloudlet deploy template.yaml`` against a real server: every event type and resource kind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.servers import ServerProcess

HANDLER = '''
import json, os
import boto3

def handler(event, context):
    if event.get("version") == "2.0":
        return {"greeting": os.environ["GREETING"], "name": event["pathParameters"]["name"],
                "route": event["routeKey"]}
    if event.get("version") == "1.0":
        return {"statusCode": 200, "body": json.dumps({"legacy": event["httpMethod"], "path": event["path"]})}
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    for record in event.get("Records", []):
        if record.get("EventSource") == "aws:sns":
            table.put_item(Item={"id": record["Sns"]["Message"], "source": "sns"})
        elif record.get("eventSource") == "aws:dynamodb":
            boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE"],
                                              MessageBody=json.dumps(record["dynamodb"]["Keys"]))
    return {"ok": True}
'''

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
  WithStream: {Type: String, Default: "no", AllowedValues: ["yes", "no"]}
Conditions:
  HasStream: !Equals [!Ref WithStream, "yes"]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Environment:
      Variables:
        GREETING: !Ref Greeting
        TABLE: !Ref Items
Resources:
  Items:
    Type: AWS::Serverless::SimpleTable
  Notices:
    Type: AWS::SNS::Topic
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
  AppFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Events:
        Hello: {Type: HttpApi, Properties: {Path: "/hello/{name}", Method: get}}
        Legacy: {Type: Api, Properties: {Path: /legacy, Method: get}}
        Notice: {Type: SNS, Properties: {Topic: !Ref Notices}}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 hour), Input: '{"tick": true}', Enabled: false}
  Changes:
    Type: AWS::DynamoDB::Table
    Condition: HasStream
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Seen:
    Type: AWS::SQS::Queue
    Condition: HasStream
  StreamFunction:
    Type: AWS::Serverless::Function
    Condition: HasStream
    Properties:
      CodeUri: src/
      Handler: app.handler
      Environment: {Variables: {QUEUE: !Ref Seen}}
      Events:
        Stream:
          Type: DynamoDB
          Properties: {Stream: !GetAtt Changes.StreamArn, StartingPosition: LATEST, BatchSize: 10}
Outputs:
  HttpUrl:
    Value: !GetAtt ServerlessHttpApi.ApiEndpoint
  RestUrl:
    Value: !Sub "${ServerlessRestApi.ApiEndpoint}/Prod"
  TableName:
    Value: !Ref Items
  TopicArn:
    Value: !Ref Notices
  SeenQueue:
    Condition: HasStream
    Value: !Ref Seen
  ChangesTable:
    Condition: HasStream
    Value: !Ref Changes
"""


def make_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "app.py").write_text(textwrap.dedent(HANDLER))
    (app / "template.yaml").write_text(TEMPLATE)
    return app / "template.yaml"


def deploy(server: ServerProcess, template: Path, *args: str) -> dict[str, str]:
    env = {**os.environ, "CLOUDLET_ENDPOINT": server.endpoint}
    out = subprocess.run(
        [sys.executable, "-m", "cloudlet", "deploy", str(template), *args],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(re.findall(r"^  (\w+) = (\S+)$", out.stdout, flags=re.MULTILINE))


def get_json(server: ServerProcess, api_url: str, path: str) -> Any:
    api_id = (urllib.parse.urlsplit(api_url).hostname or "").split(".")[0]
    stage_path = urllib.parse.urlsplit(api_url).path
    url = f"{server.endpoint}/_aws/execute-api/{api_id}{stage_path}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_deploy_events_outputs_and_redeploy(server: ServerProcess, tmp_path: Path) -> None:
    stack = f"sam-{uuid.uuid4().hex[:8]}"
    template = make_app(tmp_path)
    out = deploy(server, template, "--stack-name", stack)
    assert set(out) == {"HttpUrl", "RestUrl", "TableName", "TopicArn"}  # conditional outputs left out
    assert out["TableName"] == f"{stack}-Items"

    assert get_json(server, out["HttpUrl"], "/hello/bob") == {
        "greeting": "hello", "name": "bob", "route": "GET /hello/{name}"
    }
    legacy = get_json(server, out["RestUrl"], "/legacy")  # payload format 1.0
    assert legacy["legacy"] == "GET" and legacy["path"].endswith("/legacy")

    # SNS event → function → item in the SimpleTable.
    ddb = server.client("dynamodb")
    server.client("sns").publish(TopicArn=out["TopicArn"], Message="from-sns")
    deadline = time.monotonic() + 20
    item = None
    while item is None and time.monotonic() < deadline:
        item = ddb.get_item(TableName=out["TableName"], Key={"id": {"S": "from-sns"}}).get("Item")
        time.sleep(0.2)
    assert item == {"id": {"S": "from-sns"}, "source": {"S": "sns"}}

    # Schedule event → a disabled rule targeting the function.
    events = server.client("events")
    rules = [r for r in events.list_rules(NamePrefix=stack)["Rules"]]
    assert [(r["ScheduleExpression"], r["State"]) for r in rules] == [("rate(1 hour)", "DISABLED")]
    targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
    assert targets[0]["Arn"].endswith(f":function:{stack}-AppFunction")
    assert json.loads(targets[0]["Input"]) == {"tick": True}

    # Re-deploy with a new parameter: same resources, function configuration updated.
    (template.parent / "src" / "extra.py").write_text("X = 1\n")
    again = deploy(server, template, "--stack-name", stack, "--parameter-overrides", "Greeting=hi")
    assert again == out
    assert get_json(server, out["HttpUrl"], "/hello/ann")["greeting"] == "hi"
    lam = server.client("lambda")
    functions = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert functions.count(f"{stack}-AppFunction") == 1
    apis = [a for a in server.client("apigatewayv2").get_apis()["Items"] if a["Name"].startswith(stack)]
    assert len(apis) == 2
    state = json.loads((template.parent / f".cloudlet-stack-{stack}.json").read_text())
    assert state["Parameters"]["Greeting"] == "hi"
    assert state["Resources"]["Role"]["Action"] == "recorded"


def test_dynamodb_stream_event(server: ServerProcess, tmp_path: Path) -> None:
    stack = f"sam-{uuid.uuid4().hex[:8]}"
    out = deploy(server, make_app(tmp_path), "--stack-name", stack, "--parameter-overrides", "WithStream=yes")
    server.client("dynamodb").put_item(TableName=out["ChangesTable"], Item={"pk": {"S": "k1"}})
    sqs = server.client("sqs")
    deadline = time.monotonic() + 30
    bodies: list[str] = []
    while not bodies and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=out["SeenQueue"], WaitTimeSeconds=1)
        bodies = [m["Body"] for m in got.get("Messages", [])]
    assert [json.loads(b) for b in bodies] == [{"pk": {"S": "k1"}}]


def test_invalid_template_fails_with_a_clear_message(server: ServerProcess, tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text("Resources:\n  A:\n    Type: AWS::EC2::Instance\n")
    out = subprocess.run(
        [sys.executable, "-m", "cloudlet", "--endpoint", server.endpoint, "deploy", str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0
    assert "AWS::EC2::Instance" in out.stderr
