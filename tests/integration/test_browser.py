"""A real browser and ``curl`` reach a Lambda function through the three HTTP front doors.

An HTTP API route, a REST API resource (Lambda proxy + a MOCK ``OPTIONS`` method, as SAM
generates for CORS) and a function URL, each called by ``curl`` and by ``fetch()`` from a
page served on another loopback port (another origin), so CORS preflights and response
headers are exercised by Chromium itself.  A JWT-protected route refuses a bad token and
admits a good one signed with the test key, its JWKS served by a loopback HTTP server.

Chromium is Debian's ``chromium`` (installed by ``.ci/run``/``make test``), driven by
Playwright without ``playwright install``.  In CI (``CI`` set) a missing or unlaunchable
browser fails the test; locally it is skipped only when ``/usr/bin/chromium`` is absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.apigatewayv2.apigw_helpers import (
    local_http_server,
    make_zip,
    unique,
)
from tests.servers import ServerProcess
from tests.unit.services.apigatewayv2.jwt_test_key import claims, jwks, sign

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROLE = "arn:aws:iam::000000000000:role/browser-tests"
AUDIENCE = "browser-app"

# Answers every front door with 200 and a JSON body naming itself.  For REST API (v1) events
# the function sets Access-Control-Allow-Origin itself, as a Lambda proxy must on AWS; HTTP
# APIs and function URLs add CORS headers from their configuration.
FUNCTION = '''
import json, os

def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    out = {"content-type": "application/json"}
    if event.get("version") != "2.0" and headers.get("origin") == os.environ["ALLOWED_ORIGIN"]:
        out["access-control-allow-origin"] = headers["origin"]
    body = {"from": "browser-fn", "path": event.get("rawPath") or event.get("path"),
            "probe": headers.get("x-probe")}
    return {"statusCode": 200, "headers": out, "body": json.dumps(body)}
'''

PAGE = """<!doctype html>
<html><head><title>loading</title></head><body>
<script>
const targets = %s;
async function probe(name, url) {
  const out = document.createElement("pre");
  out.id = name;
  try {
    const response = await fetch(url, {headers: {"X-Probe": name}});
    out.textContent = JSON.stringify({status: response.status, body: await response.text()});
  } catch (error) {
    out.textContent = JSON.stringify({error: String(error)});
  }
  document.body.appendChild(out);
}
Promise.all(Object.entries(targets).map(([name, url]) => probe(name, url)))
  .then(() => { document.title = "done"; });
</script>
</body></html>
"""


@dataclass
class Deployment:
    origin: str
    page_url: str
    urls: dict[str, str]
    blocked_url: str
    secure_url: str
    issuer: str

    def expected(self, name: str) -> dict[str, str]:
        """The function's answer through front door ``name`` (an HTTP API's rawPath keeps the stage)."""
        path = "/prod/hello" if name == "http_api" else "/hello"
        return {"from": "browser-fn", "path": path, "probe": name}


def _page_server(targets: dict[str, str]) -> Any:
    def serve(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if handler.path != "/":
            return 404, {}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8"}, (PAGE % json.dumps(targets)).encode()

    return local_http_server(serve)


def _issuer_server() -> Any:
    def serve(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        host = handler.headers["Host"]
        if handler.path == "/idp/.well-known/openid-configuration":
            body: Any = {"issuer": f"http://{host}/idp", "jwks_uri": f"http://{host}/idp/keys"}
        elif handler.path == "/idp/keys":
            body = jwks()
        else:
            return 404, {}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    return local_http_server(serve)


def _lambda_uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def _http_api(server: ServerProcess, function_arn: str, origins: list[str]) -> tuple[Any, str, str]:
    client = server.client("apigatewayv2")
    api_id = client.create_api(
        Name=unique("browser"), ProtocolType="HTTP",
        CorsConfiguration={"AllowOrigins": origins, "AllowMethods": ["GET"], "AllowHeaders": ["x-probe"],
                           "MaxAge": 0},
    )["ApiId"]
    integration = client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn,
                                            PayloadFormatVersion="2.0")
    target = f"integrations/{integration['IntegrationId']}"
    client.create_route(ApiId=api_id, RouteKey="GET /hello", Target=target)
    client.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    return client, api_id, target


def _rest_api(server: ServerProcess, function_arn: str, origin: str) -> str:
    client = server.client("apigateway")
    api = client.create_rest_api(name=unique("browser-rest"))
    api_id: str = api["id"]
    hello = client.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="hello")["id"]
    client.put_method(restApiId=api_id, resourceId=hello, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=hello, httpMethod="GET", type="AWS_PROXY",
                           integrationHttpMethod="POST", uri=_lambda_uri(function_arn))
    # The CORS preflight method SAM generates: MOCK integration answering with literal headers.
    client.put_method(restApiId=api_id, resourceId=hello, httpMethod="OPTIONS", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=hello, httpMethod="OPTIONS", type="MOCK",
                           requestTemplates={"application/json": '{"statusCode": 200}'})
    headers = {"Access-Control-Allow-Origin": f"'{origin}'", "Access-Control-Allow-Methods": "'GET,OPTIONS'",
               "Access-Control-Allow-Headers": "'x-probe'"}
    client.put_method_response(restApiId=api_id, resourceId=hello, httpMethod="OPTIONS", statusCode="200",
                               responseParameters={f"method.response.header.{k}": False for k in headers})
    client.put_integration_response(
        restApiId=api_id, resourceId=hello, httpMethod="OPTIONS", statusCode="200",
        responseParameters={f"method.response.header.{k}": v for k, v in headers.items()},
        responseTemplates={"application/json": ""},
    )
    client.create_deployment(restApiId=api_id, stageName="dev")
    return api_id


@pytest.fixture(scope="module")
def deployment(server: ServerProcess) -> Iterator[Deployment]:
    with _issuer_server() as issuer_base:
        # The page's targets are filled in after the APIs exist; the page server reads this dict.
        targets: dict[str, str] = {}
        with _page_server(targets) as page_base:
            origin = page_base
            lam = server.client("lambda")
            name = unique("browser-fn")
            function_arn: str = lam.create_function(
                FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                Code={"ZipFile": make_zip(FUNCTION)}, Timeout=10,
                Environment={"Variables": {"ALLOWED_ORIGIN": origin}},
            )["FunctionArn"]

            client, http_id, target = _http_api(server, function_arn, [origin])
            issuer = issuer_base + "/idp"
            authorizer = client.create_authorizer(
                ApiId=http_id, Name="jwt", AuthorizerType="JWT", IdentitySource=["$request.header.Authorization"],
                JwtConfiguration={"Issuer": issuer, "Audience": [AUDIENCE]},
            )
            client.create_route(ApiId=http_id, RouteKey="GET /secure", Target=target, AuthorizationType="JWT",
                                AuthorizerId=authorizer["AuthorizerId"])
            _, blocked_id, _ = _http_api(server, function_arn, ["http://elsewhere.example"])
            rest_id = _rest_api(server, function_arn, origin)
            function_url: str = lam.create_function_url_config(
                FunctionName=name, AuthType="NONE",
                Cors={"AllowOrigins": [origin], "AllowMethods": ["GET"], "AllowHeaders": ["x-probe"]},
            )["FunctionUrl"]

            port = server.port
            urls = {
                "http_api": f"http://{http_id}.execute-api.localhost:{port}/prod/hello",
                "rest_api": f"http://{rest_id}.execute-api.localhost:{port}/dev/hello",
                "function_url": function_url + "hello",
            }
            blocked_url = f"http://{blocked_id}.execute-api.localhost:{port}/prod/hello"
            targets.update(urls)
            targets["blocked"] = blocked_url
            yield Deployment(origin=origin, page_url=page_base + "/", urls=urls, blocked_url=blocked_url,
                             secure_url=f"http://{http_id}.execute-api.localhost:{port}/prod/secure", issuer=issuer)


def curl(url: str, *args: str) -> tuple[int, dict[str, str], str]:
    """``curl`` the URL; returns status, lower-cased response headers and body."""
    assert shutil.which("curl"), "curl is not installed"
    marker = uuid.uuid4().hex
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "15", "-D", "-", "-w", f"\n{marker}%{{http_code}}", *args, url],
        capture_output=True, text=True, timeout=20, check=False,
    )
    assert done.returncode == 0, f"curl {url} failed: {done.stderr}"
    text, status = done.stdout.rsplit(marker, 1)
    head, _, body = text.partition("\n\n")  # text mode turned CRLF into LF
    headers = {}
    for line in head.splitlines()[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status), headers, body.rstrip("\n")


def test_curl_reaches_function_through_all_front_doors(deployment: Deployment) -> None:
    for name, url in deployment.urls.items():
        status, headers, body = curl(url, "-H", f"Origin: {deployment.origin}", "-H", f"X-Probe: {name}")
        assert status == 200, (name, status, body)
        assert json.loads(body) == deployment.expected(name), name
        assert headers.get("access-control-allow-origin") == deployment.origin, (name, headers)

        status, headers, _ = curl(url, "-X", "OPTIONS", "-H", f"Origin: {deployment.origin}",
                                  "-H", "Access-Control-Request-Method: GET",
                                  "-H", "Access-Control-Request-Headers: x-probe")
        assert status in (200, 204), (name, status)
        assert headers.get("access-control-allow-origin") == deployment.origin, (name, headers)
        assert "x-probe" in headers.get("access-control-allow-headers", "").lower(), (name, headers)

    status, headers, _ = curl(deployment.blocked_url, "-X", "OPTIONS", "-H", f"Origin: {deployment.origin}",
                              "-H", "Access-Control-Request-Method: GET")
    assert "access-control-allow-origin" not in headers


def test_curl_jwt_route(deployment: Deployment) -> None:
    status, _, body = curl(deployment.secure_url)
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    wrong_audience = sign(claims(deployment.issuer, "someone-else"))
    assert curl(deployment.secure_url, "-H", f"Authorization: Bearer {wrong_audience}")[0] == 401
    forged = sign(claims(deployment.issuer, AUDIENCE))[:-8] + "AAAAAAAA"
    assert curl(deployment.secure_url, "-H", f"Authorization: Bearer {forged}")[0] == 401

    good = sign(claims(deployment.issuer, AUDIENCE))
    status, _, body = curl(deployment.secure_url, "-H", f"Authorization: Bearer {good}")
    assert status == 200, body
    assert json.loads(body)["path"] == "/prod/secure"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (no browser download); skipped locally
    when it is missing, a failure in CI (``.ci/run`` installs it)."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (Debian's chromium: `apt-get install -y chromium`)"
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}; .ci/run and `make test` install it")
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.fail(f"playwright is not installed (pip install -e '.[test]'): {error}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=20_000)
        except Exception as error:
            pytest.fail(f"cannot launch {CHROMIUM}: {error}")
        try:
            yield browser
        finally:
            browser.close()


def test_browser_fetches_through_cors(deployment: Deployment) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(deployment.page_url, timeout=10_000)
        page.wait_for_function("document.title === 'done'", timeout=15_000)
        results = {name: json.loads(page.text_content(f"#{name}") or "null")
                   for name in [*deployment.urls, "blocked"]}

    for name in deployment.urls:
        result = results[name]
        assert result.get("status") == 200, (name, result)
        assert json.loads(result["body"]) == deployment.expected(name), name
    # The origin is not in that API's CorsConfiguration: the preflight gets no CORS headers and
    # Chromium refuses to hand the response to the page.
    assert "error" in results["blocked"], results["blocked"]
    assert "Failed to fetch" in results["blocked"]["error"]
