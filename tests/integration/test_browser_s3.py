"""S3 from a real browser: presigned URLs, CORS and form uploads, driven through headless Chromium.

Pages are served from loopback HTTP servers on their own ports, so every request they make to
the Cloudlet endpoint (another port) is cross-origin and Chromium itself applies CORS: it sends
the preflight, reads ``Access-Control-*`` from the answers and refuses responses to the page
when they are missing.  What the browser did is checked against what S3 holds, read back with
boto3.  ``curl`` exercises the same presigned URLs and the preflight without a browser.

Facts relied on: S3 answers a preflight from the bucket's CORS rules (403 when no rule
matches) and adds the matching rule's headers to actual responses, error responses included
(so a page can read a 403); a POST form with ``success_action_redirect`` is answered with a 303
whose ``Location`` carries ``bucket``, ``key`` and ``etag`` as query parameters.

Chromium is Debian's ``/usr/bin/chromium`` launched by Playwright exactly as in
``test_browser.py`` (no ``playwright install``): skipped locally when absent, a failure in CI.
"""

from __future__ import annotations

import datetime
import html
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest
from botocore.exceptions import ClientError
from tests.integration.services.apigatewayv2.apigw_helpers import local_http_server
from tests.integration.test_browser import chromium, curl
from tests.servers import ServerProcess

#: Binary, with every byte value and a non-ASCII tail, so any text re-encoding would show.
PAYLOAD = bytes(range(256)) * 3 + "é✓ end".encode()

BLANK = b"<!doctype html><html><head><title>blank</title></head><body></body></html>"

# fetch() from the page; every outcome is returned as JSON-able data (a rejected fetch as
# {"error": ...}) so the assertions live in Python.
FETCH_JS = """
async ({url, method, bytes, contentType}) => {
  const init = {method};
  if (bytes !== null) {
    init.body = new Uint8Array(bytes);
    init.headers = {"Content-Type": contentType};
  }
  try {
    const response = await fetch(url, init);
    const body = new Uint8Array(await response.arrayBuffer());
    return {status: response.status, etag: response.headers.get("ETag"),
            requestId: response.headers.get("x-amz-request-id"),
            contentType: response.headers.get("Content-Type"), bytes: Array.from(body)};
  } catch (error) {
    return {error: String(error)};
  }
}
"""

# fetch() of a FormData built from generate_presigned_post's fields, the file appended last.
FORM_DATA_JS = """
async ({url, fields, bytes, filename, mimeType}) => {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", new Blob([new Uint8Array(bytes)], {type: mimeType}), filename);
  try {
    const response = await fetch(url, {method: "POST", body: form});
    return {status: response.status, etag: response.headers.get("ETag"), text: await response.text()};
  } catch (error) {
    return {error: String(error)};
  }
}
"""


@dataclass
class Site:
    """Two page origins: ``origin`` is allowed by the bucket's CORS rules, ``other`` is not."""

    origin: str
    other: str
    pages: dict[str, bytes]

    def publish(self, html_text: str) -> str:
        """Serve ``html_text`` from the allowed origin; returns its URL."""
        path = f"/page-{uuid.uuid4().hex[:8]}"
        self.pages[path] = html_text.encode()
        return self.origin + path


def _page_server(pages: dict[str, bytes]) -> Any:
    def serve(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(handler.path).path
        if path == "/done":  # the success_action_redirect target: shows the query S3 appended
            body = f"<!doctype html><title>done</title><pre id=query>{html.escape(handler.path)}</pre>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()
        if path == "/":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, BLANK
        if path in pages:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, pages[path]
        return 404, {}, b""

    return local_http_server(serve)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    pages: dict[str, bytes] = {}
    with _page_server(pages) as origin, _page_server(pages) as other:
        yield Site(origin=origin, other=other, pages=pages)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def s3(server: ServerProcess) -> Any:
    return server.client("s3", signature_version="s3v4")


@pytest.fixture
def cors_bucket(s3: Any, site: Site) -> str:
    """A fresh bucket whose one CORS rule admits only ``site.origin``."""
    name = f"browser-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [site.origin], "AllowedMethods": ["GET", "PUT", "POST", "HEAD"],
        "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 0,
    }]})
    return name


def _fetch(page: Any, url: str, method: str = "GET", body: bytes | None = None,
           content_type: str = "application/octet-stream") -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(FETCH_JS, {
        "url": url, "method": method, "bytes": list(body) if body is not None else None,
        "contentType": content_type,
    })
    return result


def _watch_preflights(page: Any) -> list[tuple[str, int]]:
    """(URL path, status) of every CORS preflight Chromium sends from ``page`` from now on.

    Playwright does not report preflights; the DevTools protocol does (response type ``Preflight``).
    """
    seen: list[tuple[str, int]] = []
    session = page.context.new_cdp_session(page)

    def received(event: dict[str, Any]) -> None:
        if event.get("type") == "Preflight":
            seen.append((urlsplit(event["response"]["url"]).path, event["response"]["status"]))

    session.on("Network.responseReceived", received)
    session.send("Network.enable")
    return seen


def _missing(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return bool(error.response["ResponseMetadata"]["HTTPStatusCode"] == 404)
    return False


def _presign(s3: Any, operation: str, bucket: str, key: str, expires: int = 300) -> str:
    url: str = s3.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    assert "X-Amz-Signature=" in url, url  # SigV4 query signing, not the legacy form
    return url


# -- curl --------------------------------------------------------------------------------


def test_presigned_urls_and_preflight_from_curl(s3: Any, cors_bucket: str, site: Site, tmp_path: Path) -> None:
    key = "curl/hello.txt"
    put_url = _presign(s3, "put_object", cors_bucket, key)
    source = tmp_path / "body.bin"
    source.write_bytes(b"sent by curl\n")
    status, headers, _ = curl(put_url, "-X", "PUT", "--data-binary", f"@{source}")
    assert status == 200
    assert s3.get_object(Bucket=cors_bucket, Key=key)["Body"].read() == b"sent by curl\n"

    status, headers, body = curl(_presign(s3, "get_object", cors_bucket, key), "-H", f"Origin: {site.origin}")
    assert (status, body) == (200, "sent by curl")
    assert headers["access-control-allow-origin"] == site.origin
    assert headers["access-control-expose-headers"] == "ETag"
    assert headers["etag"] == s3.head_object(Bucket=cors_bucket, Key=key)["ETag"]

    # The preflight a browser sends before a presigned PUT: unsigned, answered from the rules.
    preflight = ("-X", "OPTIONS", "-H", "Access-Control-Request-Method: PUT",
                 "-H", "Access-Control-Request-Headers: content-type")
    status, headers, _ = curl(put_url, *preflight, "-H", f"Origin: {site.origin}")
    assert status == 200
    assert headers["access-control-allow-origin"] == site.origin
    assert "PUT" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type"
    status, headers, body = curl(put_url, *preflight, "-H", f"Origin: {site.other}")
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert "<Code>AccessForbidden</Code>" in body


# -- scenario 1: allowed origin, presigned PUT then GET ------------------------------------


def test_browser_presigned_put_and_get(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    key = "from-browser/data.bin"
    page.goto(site.origin + "/", timeout=10_000)
    preflights = _watch_preflights(page)
    # application/octet-stream is not a CORS-safelisted type and PUT not a simple method: Chromium
    # preflights (Access-Control-Request-Headers: content-type) before it sends the PUT.
    put = _fetch(page, _presign(s3, "put_object", cors_bucket, key), "PUT", PAYLOAD)
    assert put.get("status") == 200, put
    assert preflights == [(f"/{cors_bucket}/{key}", 200)]
    stored = s3.get_object(Bucket=cors_bucket, Key=key)
    assert stored["Body"].read() == PAYLOAD
    assert put["etag"] == stored["ETag"]  # exposed by the rule's ExposeHeaders

    got = _fetch(page, _presign(s3, "get_object", cors_bucket, key))
    assert got.get("status") == 200, got
    assert bytes(got["bytes"]) == PAYLOAD
    assert got["etag"] == stored["ETag"]
    # Not named in ExposeHeaders and not CORS-safelisted: the browser hides it from the page.
    assert got["requestId"] is None


def test_browser_presigned_put_with_signed_content_type(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    key = "from-browser/typed.json"
    url: str = s3.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": cors_bucket, "Key": key, "ContentType": "application/json"})
    assert "content-type" in url.lower()  # X-Amz-SignedHeaders names it: the browser must send it
    page.goto(site.origin + "/", timeout=10_000)
    body = b'{"from": "browser"}'
    # Another type than the one signed: the signature does not match.  The error carries the CORS
    # headers of the matching rule, so the page sees the 403 rather than a network error.
    wrong = _fetch(page, url, "PUT", body, content_type="text/csv")
    assert wrong.get("status") == 403, wrong
    assert b"<Code>SignatureDoesNotMatch</Code>" in bytes(wrong["bytes"])
    assert _missing(s3, cors_bucket, key)

    put = _fetch(page, url, "PUT", body, content_type="application/json")
    assert put.get("status") == 200, put
    stored = s3.get_object(Bucket=cors_bucket, Key=key)
    assert (stored["Body"].read(), stored["ContentType"]) == (body, "application/json")


# -- scenario 2: an origin the rules do not allow --------------------------------------------


def test_browser_blocks_origin_not_in_rules(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    page.goto(site.other + "/", timeout=10_000)
    preflights = _watch_preflights(page)
    key = "blocked/data.bin"
    put = _fetch(page, _presign(s3, "put_object", cors_bucket, key), "PUT", PAYLOAD)
    assert "Failed to fetch" in put.get("error", ""), put
    assert preflights == [(f"/{cors_bucket}/{key}", 403)]
    # The URL is validly signed, so a PUT that reached the server would have stored the object:
    # its absence shows the failed preflight kept Chromium from sending it.
    assert _missing(s3, cors_bucket, key)

    # A GET needs no preflight and is served, but without Access-Control-Allow-Origin for this
    # origin Chromium refuses the response to the page.
    s3.put_object(Bucket=cors_bucket, Key=key, Body=b"secret")
    got = _fetch(page, _presign(s3, "get_object", cors_bucket, key))
    assert "Failed to fetch" in got.get("error", ""), got
    assert len(preflights) == 1  # the GET was a simple request

    # So is a FormData POST: CORS keeps the answer from the page, it does not stop the upload.
    # S3 (like Cloudlet) stores the object; only the POST policy guards writes.
    posted = "blocked/form.bin"
    post = s3.generate_presigned_post(cors_bucket, posted, ExpiresIn=300)
    result = page.evaluate(FORM_DATA_JS, {"url": post["url"], "fields": post["fields"], "bytes": list(PAYLOAD),
                                          "filename": "form.bin", "mimeType": "application/octet-stream"})
    assert "Failed to fetch" in result.get("error", ""), result
    assert len(preflights) == 1
    assert s3.get_object(Bucket=cors_bucket, Key=posted)["Body"].read() == PAYLOAD


# -- scenario 3: browser form uploads (POST Object) ------------------------------------------


def _form_page(post: dict[str, Any]) -> str:
    inputs = "\n".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                       for name, value in post["fields"].items())
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>form</title></head><body>'
            f'<form id="upload" action="{html.escape(post["url"])}" method="post" enctype="multipart/form-data">'
            f'{inputs}\n<input type="file" name="file" id="file"><button id="go" type="submit">Upload</button>'
            f"</form></body></html>")


def test_browser_form_upload_redirects_back(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    done = site.origin + "/done"
    post = s3.generate_presigned_post(
        cors_bucket, "uploads/${filename}",
        Fields={"Content-Type": "image/png", "success_action_redirect": done},
        Conditions=[{"Content-Type": "image/png"}, {"success_action_redirect": done},
                    ["content-length-range", 1, 4096]],
        ExpiresIn=300,
    )
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    page.goto(site.publish(_form_page(post)), timeout=10_000)
    # The browser labels the file part octet-stream; S3 takes Content-Type from the form field.
    page.set_input_files("#file", files=[{"name": "pixel.png", "mimeType": "application/octet-stream",
                                          "buffer": PAYLOAD}])
    with page.expect_navigation(url="**/done?**", timeout=10_000) as navigation:
        page.click("#go")
    landed = navigation.value
    assert landed.status == 200
    redirect = landed.request.redirected_from
    assert redirect is not None and redirect.method == "POST"
    assert redirect.response().status == 303

    stored = s3.get_object(Bucket=cors_bucket, Key="uploads/pixel.png")
    assert stored["Body"].read() == PAYLOAD
    assert stored["ContentType"] == "image/png"
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"bucket": [cors_bucket], "key": ["uploads/pixel.png"], "etag": [stored["ETag"]]}


def test_browser_form_data_fetch_gets_201(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    key = "fetched/form.txt"
    post = s3.generate_presigned_post(
        cors_bucket, key, Fields={"Content-Type": "text/plain", "success_action_status": "201"},
        Conditions=[{"Content-Type": "text/plain"}, {"success_action_status": "201"}], ExpiresIn=300,
    )
    page.goto(site.origin + "/", timeout=10_000)
    # multipart/form-data and POST are CORS-safelisted: no preflight, the response needs the headers.
    result = page.evaluate(FORM_DATA_JS, {"url": post["url"], "fields": post["fields"], "bytes": list(PAYLOAD),
                                          "filename": "form.txt", "mimeType": "application/octet-stream"})
    assert result.get("status") == 201, result
    stored = s3.get_object(Bucket=cors_bucket, Key=key)
    assert stored["Body"].read() == PAYLOAD
    assert stored["ContentType"] == "text/plain"
    assert result["etag"] == stored["ETag"]
    assert f"<Key>{key}</Key>" in result["text"] and f"<Bucket>{cors_bucket}</Bucket>" in result["text"]


def test_browser_form_violating_policy_is_refused(page: Any, s3: Any, cors_bucket: str, site: Site) -> None:
    key = "refused/page.html"
    post = s3.generate_presigned_post(cors_bucket, key, Fields={"Content-Type": "image/png"},
                                      Conditions=[{"Content-Type": "image/png"}], ExpiresIn=300)
    page.goto(site.publish(_form_page(post)), timeout=10_000)
    # The page tampers with a signed field before submitting: the policy no longer holds.
    page.eval_on_selector('input[name="Content-Type"]', "input => { input.value = 'text/html'; }")
    page.set_input_files("#file", files=[{"name": "page.html", "mimeType": "text/html", "buffer": b"<p>hi</p>"}])
    with page.expect_navigation(timeout=10_000) as navigation:
        page.click("#go")
    assert navigation.value.status == 403
    text = navigation.value.text()
    assert "<Code>AccessDenied</Code>" in text and "Policy Condition failed" in text, text
    assert _missing(s3, cors_bucket, key)


# -- scenario 4: an expired presigned GET --------------------------------------------------


def test_browser_expired_presigned_get(page: Any, s3: Any, cors_bucket: str, site: Site,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key = "expired/data.bin"
    s3.put_object(Bucket=cors_bucket, Key=key, Body=PAYLOAD)
    # Signed "ten minutes ago" for one minute: expired without sleeping (botocore reads the
    # signing time from botocore.auth.get_current_datetime).
    def past() -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", past)
    url = _presign(s3, "get_object", cors_bucket, key, expires=60)
    monkeypatch.undo()

    page.goto(site.origin + "/", timeout=10_000)
    # S3 adds the matching CORS rule's headers to error responses too (the page origin is
    # allowed for GET), so the browser hands the 403 to the page instead of a network error.
    got = _fetch(page, url)
    assert got.get("status") == 403, got
    assert b"<Code>AccessDenied</Code>" in bytes(got["bytes"])
    assert b"Request has expired" in bytes(got["bytes"])

    # From an origin the rules do not allow the same 403 carries no CORS headers: a network error.
    page.goto(site.other + "/", timeout=10_000)
    assert "Failed to fetch" in _fetch(page, url).get("error", "")
