"""The API Gateway document store and the data plane's pure helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cloudlet.protocols.base import HttpRequest
from cloudlet.services.apigateway.dataplane import mock_response
from cloudlet.services.apigatewayv2 import MIGRATIONS
from cloudlet.services.apigatewayv2.dataplane import (
    lambda_function_arn,
    split_target,
    substitute_stage_variables,
)
from cloudlet.services.apigatewayv2.docstore import Doc, DocStore
from cloudlet.storage import Database


def test_docstore_cascade_and_reload(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "apigw.db", MIGRATIONS)
        await db.open()
        docs = DocStore(db)
        await docs.put(Doc("api", "a1", "", "us-east-1", "000000000000", {"Name": "one"}))
        await docs.put(Doc("route", "r1", "a1", "us-east-1", "000000000000", {"RouteKey": "GET /"}))
        await docs.put(Doc("api", "a2", "", "us-east-1", "000000000000", {"Name": "two"}))
        assert [d.id for d in docs.children("a1", "route")] == ["r1"]
        assert {d.id for d in docs.all("api", "us-east-1", "000000000000")} == {"a1", "a2"}
        assert docs.all("api", "eu-west-1", "000000000000") == []
        await docs.delete("api", "a1")
        assert docs.get("route", "r1") is None
        await db.close()

        db = Database(tmp_path / "apigw.db", MIGRATIONS)
        await db.open()
        reloaded = DocStore(db)
        await reloaded.load()
        kept = reloaded.get("api", "a2")
        assert kept is not None and kept.body == {"Name": "two"}
        assert reloaded.get("api", "a1") is None and reloaded.get("route", "r1") is None
        await db.close()

    asyncio.run(scenario())


def test_split_target_host_and_path_forms() -> None:
    by_path = HttpRequest("GET", "/_aws/execute-api/abc/prod/x", "", {"host": "127.0.0.1:4566"}, b"")
    assert split_target(by_path, "execute-api") == ("abc", "/prod/x", "abc.execute-api.localhost")
    by_host = HttpRequest("GET", "/prod/x", "", {"host": "abc.execute-api.localhost:4566"}, b"")
    assert split_target(by_host, "execute-api") == ("abc", "/prod/x", "abc.execute-api.localhost")
    assert split_target(HttpRequest("GET", "/x", "", {"host": "localhost"}, b""), "execute-api") is None


def test_integration_uri_helpers() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert lambda_function_arn(arn) == arn
    wrapped = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}:live/invocations"
    assert lambda_function_arn(wrapped) == arn + ":live"
    assert substitute_stage_variables("fn-${stageVariables.env}", {"env": "dev"}) == "fn-dev"


def test_mock_response_uses_literal_mappings() -> None:
    integration = {"integrationResponses": {"200": {
        "statusCode": "200",
        "responseParameters": {"method.response.header.Access-Control-Allow-Origin": "'*'",
                               "method.response.header.X-From-Request": "method.request.header.x"},
        "responseTemplates": {"application/json": '{"ok": true}'},
    }}}
    response = mock_response(integration)
    assert response.status == 200 and response.body == b'{"ok": true}'
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert response.header("X-From-Request") is None
