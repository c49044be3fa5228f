"""Amazon DynamoDB and DynamoDB Streams on SQLite."""

from cloudlet.services.dynamodb.provider import (
    DynamoDBProvider,
    DynamoDBStreamsProvider,
    create_dynamodb_provider,
    create_dynamodbstreams_provider,
)
from cloudlet.services.dynamodb.store import MIGRATIONS

__all__ = [
    "MIGRATIONS",
    "DynamoDBProvider",
    "DynamoDBStreamsProvider",
    "create_dynamodb_provider",
    "create_dynamodbstreams_provider",
]
