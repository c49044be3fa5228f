"""Conditional request rules and Range parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.errors import ServiceError
from cloudlet.services.s3.conditions import check_read, check_write, etag_matches, parse_range

ETAG = '"abc"'
MODIFIED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
AFTER = datetime(2027, 1, 1, tzinfo=UTC)


def outcome(params: dict[str, object]) -> int:
    try:
        check_read(params, ETAG, MODIFIED + 0.4)
    except ServiceError as exc:
        return exc.status
    return 200


def test_read_conditions() -> None:
    assert outcome({}) == 200
    assert outcome({"IfMatch": '"abc"'}) == 200
    assert outcome({"IfMatch": '"x", "abc"'}) == 200
    assert outcome({"IfMatch": "*"}) == 200
    assert outcome({"IfMatch": '"x"'}) == 412
    assert outcome({"IfNoneMatch": '"abc"'}) == 304
    assert outcome({"IfNoneMatch": '"x"'}) == 200
    assert outcome({"IfModifiedSince": AFTER}) == 304
    assert outcome({"IfModifiedSince": BEFORE}) == 200
    # Second resolution: the object's fraction does not make it "modified since" its own second.
    assert outcome({"IfModifiedSince": datetime.fromtimestamp(MODIFIED, UTC)}) == 304
    assert outcome({"IfUnmodifiedSince": BEFORE}) == 412
    assert outcome({"IfUnmodifiedSince": AFTER}) == 200
    assert outcome({"IfMatch": ETAG, "IfUnmodifiedSince": BEFORE}) == 200
    assert outcome({"IfNoneMatch": '"x"', "IfModifiedSince": AFTER}) == 200


def test_copy_conditions_are_all_412() -> None:
    with pytest.raises(ServiceError) as exc:
        check_read({"CopySourceIfNoneMatch": ETAG}, ETAG, MODIFIED, prefix="CopySourceIf")
    assert exc.value.status == 412
    with pytest.raises(ServiceError) as exc:
        check_read({"CopySourceIfModifiedSince": AFTER}, ETAG, MODIFIED, prefix="CopySourceIf")
    assert exc.value.status == 412


def test_write_conditions() -> None:
    check_write({"IfNoneMatch": "*"}, None, "k")
    with pytest.raises(ServiceError) as exc:
        check_write({"IfNoneMatch": "*"}, ETAG, "k")
    assert exc.value.code == "PreconditionFailed"
    check_write({"IfMatch": ETAG}, ETAG, "k")
    with pytest.raises(ServiceError) as exc:
        check_write({"IfMatch": ETAG}, None, "k")
    assert exc.value.code == "NoSuchKey"
    assert etag_matches("abc", ETAG)


def test_ranges() -> None:
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=-500", 100) == (0, 99)
    assert parse_range("bytes=50-1000", 100) == (50, 99)
    assert parse_range("bytes=0-1,5-6", 100) is None
    assert parse_range("items=0-1", 100) is None
    assert parse_range("bytes=9-3", 100) is None
    with pytest.raises(ServiceError) as exc:
        parse_range("bytes=100-", 100)
    assert exc.value.status == 416
    assert parse_range("bytes=0-", 0) is None


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 1000))
def test_range_is_inside_object(first: int, last: int, size: int) -> None:
    try:
        selected = parse_range(f"bytes={first}-{last}", size)
    except ServiceError:
        assert first >= size
        return
    if selected is not None:
        start, end = selected
        assert 0 <= start <= end < size
        assert start == first
