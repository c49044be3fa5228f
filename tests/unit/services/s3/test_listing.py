"""The listing walk against a brute-force model of S3's semantics."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.services.s3.listing import encode_key, make_token, paginate, read_token


def scan_of(keys: list[str]) -> tuple[object, list[int]]:
    ordered = sorted(set(keys))
    calls: list[int] = []

    def scan(start: str, inclusive: bool) -> Iterator[str]:
        calls.append(1)
        index = bisect.bisect_left(ordered, start) if inclusive else bisect.bisect_right(ordered, start)
        yield from ordered[index:]

    return scan, calls


def model(keys: list[str], prefix: str, delimiter: str, marker: str) -> list[tuple[str, bool]]:
    """Every result in order: (key or common prefix, is_prefix)."""
    out: list[tuple[str, bool]] = []
    for key in sorted(set(keys)):
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + len(delimiter)]
            if common > marker and (not out or out[-1] != (common, True)):
                out.append((common, True))
        elif key > marker:
            out.append((key, False))
    return out


ALPHABET = st.sampled_from(["a", "b", "/", "-", "é"])
KEYS = st.lists(st.text(ALPHABET, min_size=1, max_size=6), max_size=30)


@settings(max_examples=300)
@given(KEYS, st.text(ALPHABET, max_size=2), st.sampled_from(["", "/", "-", "ab"]), st.integers(1, 5))
def test_pages_concatenate_to_the_model(keys: list[str], prefix: str, delimiter: str, size: int) -> None:
    scan, _ = scan_of(keys)
    seen: list[tuple[str, bool]] = []
    marker = ""
    for _ in range(100):
        page = paginate(scan, lambda k: k, prefix=prefix, delimiter=delimiter, marker=marker,  # type: ignore[arg-type]
                        max_keys=size)
        items = sorted([(k, False) for k in page.entries] + [(p, True) for p in page.prefixes])
        assert len(items) <= size
        seen += items
        if not page.truncated:
            break
        assert page.last is not None
        marker = page.last
    assert seen == model(keys, prefix, delimiter, "")


@given(KEYS, st.text(ALPHABET, max_size=3))
def test_marker_skips_everything_up_to_it(keys: list[str], marker: str) -> None:
    scan, _ = scan_of(keys)
    page = paginate(scan, lambda k: k, marker=marker, max_keys=1000)  # type: ignore[arg-type]
    assert page.entries == [k for k in sorted(set(keys)) if k > marker]


def test_common_prefix_costs_one_seek() -> None:
    keys = [f"big/{i:05d}" for i in range(5000)] + ["z"]
    scan, calls = scan_of(keys)
    page = paginate(scan, lambda k: k, delimiter="/")  # type: ignore[arg-type]
    assert page.prefixes == ["big/"]
    assert page.entries == ["z"]
    assert len(calls) == 2


def test_zero_max_keys() -> None:
    scan, _ = scan_of(["a"])
    page = paginate(scan, lambda k: k, max_keys=0)  # type: ignore[arg-type]
    assert page.entries == [] and not page.truncated


def test_tokens_and_encoding() -> None:
    assert read_token(make_token("ü/x")) == "ü/x"
    assert read_token("%%%") is None
    assert encode_key("a b/ü+", "url") == "a%20b/%C3%BC%2B"
    assert encode_key("a b", None) == "a b"
