"""Amazon API Gateway HTTP APIs (apigatewayv2) and the ``execute-api`` data plane.

``create_provider(hub)`` builds the control-plane provider over ``apigatewayv2.db``
and registers the data plane, which also serves REST API (v1) ids through the
``apigateway`` provider's ``handle_execute_api``.
"""

from __future__ import annotations

from typing import Any

from cloudlet.services.apigatewayv2.dataplane import PLANE, HttpApiPlane, RestApiHandler
from cloudlet.services.apigatewayv2.docstore import DocStore, docs_migration
from cloudlet.services.apigatewayv2.provider import HttpApiProvider

MIGRATIONS = [docs_migration("apigatewayv2-1")]

__all__ = ["MIGRATIONS", "HttpApiPlane", "HttpApiProvider", "create_provider"]


def create_provider(hub: Any) -> HttpApiProvider:
    docs = DocStore(hub.database("apigatewayv2", MIGRATIONS))

    def rest_api() -> RestApiHandler | None:
        provider = hub.providers.get("apigateway")
        return provider if provider is not None and hasattr(provider, "handle_execute_api") else None

    plane = HttpApiPlane(docs, hub.call, hub.credentials, rest_api=rest_api)
    hub.data_planes[PLANE] = plane
    return HttpApiProvider(docs, plane)
