"""POST Object forms read as they stream: any split of the body parses alike."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.errors import ServiceError
from cloudlet.services.s3.form import MAX_PRE_DATA, Form, read_form

BOUNDARY = "----formboundary7MA4YWxk"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def encode(fields: list[tuple[str, str]], data: bytes, filename: str = "a.txt", after: bytes = b"") -> bytes:
    out = b""
    for name, value in fields:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return out + data + f"\r\n--{BOUNDARY}".encode() + after + b"--\r\n"


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def parse(pieces: list[bytes], content_type: str = CONTENT_TYPE) -> tuple[Form, bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def run() -> tuple[Form, bytes]:
        form = await read_form(content_type, chunks())
        data = b"".join([c async for c in form.file]) if form.file is not None else b""
        return form, data

    return asyncio.run(run())


field_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n-"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(st.tuples(st.sampled_from(["key", "policy", "x-amz-meta-a", "Content-Type"]), field_text),
                    max_size=4),
    data=st.binary(max_size=3000) | st.just(f"\r\n--{BOUNDARY}"[:-1].encode() * 3),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=10),
)
def test_any_split_of_a_form_parses_to_the_same_fields_and_file(fields: list[tuple[str, str]], data: bytes,
                                                                 cuts: list[int]) -> None:
    body = encode(fields, data, after=b'\r\nContent-Disposition: form-data; name="ignored"\r\n\r\nx\r\n--' + BOUNDARY.encode())
    form, got = parse(split(body, cuts))
    assert got == data
    assert form.file is not None and form.file.size == len(data)
    expected: dict[str, str] = {}
    for name, value in fields:
        expected[name.lower()] = f"{expected[name.lower()]},{value}" if name.lower() in expected else value
    assert {k: v for k, (_, v) in form.fields.items()} == expected
    assert form.filename == "a.txt"


def test_a_form_without_its_closing_boundary_is_malformed_when_the_file_is_read() -> None:
    body = encode([("key", "k")], b"data")[: -len(f"\r\n--{BOUNDARY}--\r\n")]
    with pytest.raises(ServiceError) as exc:
        parse([body])
    assert exc.value.code == "MalformedPOSTRequest"


def test_fields_past_the_pre_data_limit_are_refused() -> None:
    body = encode([("x-amz-meta-big", "v" * (MAX_PRE_DATA + 10))], b"data")
    with pytest.raises(ServiceError) as exc:
        parse(split(body, [100, 5000, 15000]))
    assert exc.value.code == "MaxPostPreDataLengthExceeded"


def test_not_a_form_is_a_precondition_failure_and_a_form_without_file_has_none() -> None:
    with pytest.raises(ServiceError) as exc:
        parse([b"x"], "application/json")
    assert exc.value.status == 412
    form, _ = parse([f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--{BOUNDARY}--\r\n'.encode()])
    assert form.file is None and form.get("key") == "k"
