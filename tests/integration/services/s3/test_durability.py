"""Acknowledged writes and their notifications survive ``kill -9``; interrupted writes leave nothing."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cloudlet.services.s3.files import INLINE_MAX

RECORDER = """
import json, os
def handler(event, context):
    with open(os.environ["EVENTS_FILE"], "a") as f:
        f.write(json.dumps(event) + "\\n")
"""


def test_kill9_keeps_acknowledged_objects_and_events(start_server: Callable[..., Any], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    events = tmp_path / "events.jsonl"
    server = start_server(data_dir)
    s3, lam = server.client("s3"), server.client("lambda")
    s3.create_bucket(Bucket="durable")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", RECORDER)
    arn = lam.create_function(FunctionName="rec", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                              Handler="app.handler", Code={"ZipFile": buffer.getvalue()},
                              Environment={"Variables": {"EVENTS_FILE": str(events)}})["FunctionArn"]
    lam.add_permission(FunctionName="rec", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::durable")
    s3.put_bucket_notification_configuration(Bucket="durable", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    digests: dict[str, str] = {}
    for i in range(40):
        body = os.urandom(1000 + i * 997)
        s3.put_object(Bucket="durable", Key=f"obj/{i}", Body=body)
        digests[f"obj/{i}"] = hashlib.sha256(body).hexdigest()
    created = set(digests)
    s3.delete_object(Bucket="durable", Key="obj/0")
    del digests["obj/0"]

    # A PUT that dies half-way: headers promise 1 MiB, only 100 KiB arrive before the kill.
    parsed = urlparse(server.endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    connection.putrequest("PUT", "/durable/partial")
    connection.putheader("Content-Length", str(1024 * 1024))
    connection.endheaders()
    connection.send(b"x" * 100 * 1024)
    time.sleep(0.2)
    server.kill9()
    connection.close()
    stray = data_dir / "s3" / "tmp" / "leftover"
    stray.write_bytes(b"interrupted write")
    orphan = data_dir / "s3" / "data" / "ff" / "ff-orphan"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"renamed but never committed")

    restarted = start_server(data_dir)
    s3 = restarted.client("s3")
    listed = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="durable")
              for o in p.get("Contents", [])]
    assert sorted(listed) == sorted(digests)
    for key, digest in digests.items():
        assert hashlib.sha256(s3.get_object(Bucket="durable", Key=key)["Body"].read()).hexdigest() == digest
    assert not stray.exists()
    assert not orphan.exists()
    blobs = [p for p in (data_dir / "s3" / "data").rglob("*") if p.is_file()]
    assert len(blobs) == sum(1 for i in range(40) if 1000 + i * 997 > INLINE_MAX)  # small ones live in rows
    # At least once: every acknowledged PUT's event reaches the function, before or after the kill.
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    while time.monotonic() < deadline and seen != created:
        if events.exists():
            seen = {r["s3"]["object"]["key"] for line in events.read_text().splitlines()
                    for r in json.loads(line)["Records"]}
        time.sleep(0.1)
    assert seen == created
