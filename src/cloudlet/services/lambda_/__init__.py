"""AWS Lambda: functions, versions, aliases, permissions and invocations (sync and durable async)."""

from cloudlet.services.lambda_.esm_store import ESM_MIGRATIONS
from cloudlet.services.lambda_.provider import LambdaProvider
from cloudlet.services.lambda_.store import MIGRATIONS as _STORE_MIGRATIONS
from cloudlet.services.lambda_.urls import URL_MIGRATIONS

MIGRATIONS = [*_STORE_MIGRATIONS, *ESM_MIGRATIONS, *URL_MIGRATIONS]

__all__ = ["MIGRATIONS", "LambdaProvider"]
