"""Amazon API Gateway REST APIs (v1): the subset SAM and serverless apps use.

Traffic reaches REST APIs through the ``execute-api`` data plane of the
apigatewayv2 package, which calls ``RestApiProvider.handle_execute_api``.
"""

from __future__ import annotations

from typing import Any

from cloudlet.services.apigateway.dataplane import RestApiPlane
from cloudlet.services.apigateway.provider import RestApiProvider
from cloudlet.services.apigatewayv2.docstore import DocStore, docs_migration

MIGRATIONS = [docs_migration("apigateway-1")]

__all__ = ["MIGRATIONS", "RestApiPlane", "RestApiProvider", "create_provider"]


def create_provider(hub: Any) -> RestApiProvider:
    docs = DocStore(hub.database("apigateway", MIGRATIONS))

    def id_taken(api_id: str) -> bool:
        other = hub.providers.get("apigatewayv2")
        return other is not None and other.docs.get("api", api_id) is not None

    plane = RestApiPlane(docs, hub.call, hub.credentials)
    return RestApiProvider(docs, plane, id_taken)
