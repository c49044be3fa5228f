"""A streamed body leaves the edge chunk by chunk, with its length up front."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from cloudlet.edge.app import _write_response
from cloudlet.protocols.base import HttpResponse


class Chunks:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __len__(self) -> int:
        return sum(map(len, self.parts))

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.parts
        finally:
            self.closed = True


def _send_all(response: HttpResponse, *, head: bool = False) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(_write_response(send, response, head=head))
    return sent


def test_stream_is_sent_in_chunks_with_content_length() -> None:
    body = Chunks([b"a" * 10, b"b" * 5, b"c"])
    sent = _send_all(HttpResponse(200, [("Content-Type", "binary/octet-stream")], stream=body))
    assert sent[0]["type"] == "http.response.start"
    assert (b"content-length", b"16") in sent[0]["headers"]
    bodies = [m for m in sent[1:] if m["type"] == "http.response.body"]
    assert [m["body"] for m in bodies] == [b"a" * 10, b"b" * 5, b"c", b""]
    assert [m.get("more_body", False) for m in bodies] == [True, True, True, False]
    assert body.closed


def test_unreadable_stream_is_a_clean_500() -> None:
    class Vanished:
        def __len__(self) -> int:
            return 3

        def __iter__(self) -> Iterator[bytes]:
            raise FileNotFoundError("blob deleted")
            yield b""  # pragma: no cover

    sent = _send_all(HttpResponse(200, [], stream=Vanished()))
    assert sent[0]["status"] == 500
    assert sent[-1] == {"type": "http.response.body", "body": b""}
