"""Fixtures for DynamoDB integration tests: clients, a resource, and throw-away tables."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from tests.servers import REGION, ServerProcess


@pytest.fixture
def ddb(aws_client: Callable[..., Any]) -> Any:
    return aws_client("dynamodb")


@pytest.fixture
def streams(aws_client: Callable[..., Any]) -> Any:
    return aws_client("dynamodbstreams")


@pytest.fixture
def resource(server: ServerProcess) -> Any:
    return boto3.resource(
        "dynamodb", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_table(ddb: Any) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def factory(hash_type: str = "S", range_type: str | None = "S", **extra: Any) -> str:
        name = unique()
        schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
        definitions = [{"AttributeName": "pk", "AttributeType": hash_type}]
        if range_type:
            schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
            definitions.append({"AttributeName": "sk", "AttributeType": range_type})
        definitions += extra.pop("ExtraDefinitions", [])
        ddb.create_table(
            TableName=name, KeySchema=schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST", **extra
        )
        created.append(name)
        return name

    yield factory
    for name in created:
        with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
            ddb.delete_table(TableName=name)
