"""AWS Lambda: functions, versions, aliases, permissions and invocations (sync and durable async)."""

from cloudlet.services.lambda_.provider import LambdaProvider
from cloudlet.services.lambda_.store import MIGRATIONS

__all__ = ["MIGRATIONS", "LambdaProvider"]
