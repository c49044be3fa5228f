"""EventBridge event patterns: every operator, nesting, $or, and the validation errors."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.events.patterns import PatternError, matches, parse

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "1",
    "detail-type": "Order Placed",
    "source": "shop.orders",
    "account": "000000000000",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::bucket/a.png", "arn:aws:s3:::bucket/b.txt"],
    "detail": {
        "state": "running",
        "price": 100,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "ip": "10.0.0.42",
        "ip6": "2001:db8::1",
        "file": "photos/Cat.PNG",
        "tags": ["red", "blue"],
        "customer": {"tier": "gold", "country": "FR"},
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["shop.orders"]}, True),
        ({"source": ["other", "shop.orders"]}, True),
        ({"source": ["SHOP.orders"]}, False),
        ({"detail": {"price": [100]}}, True),
        ({"detail": {"price": [100.0]}}, True),
        ({"detail": {"price": ["100"]}}, False),
        ({"detail": {"flag": [True]}}, True),
        ({"detail": {"flag": ["true"]}}, False),
        ({"detail": {"nothing": [None]}}, True),
        ({"detail": {"state": [None]}}, False),
        ({"detail": {"tags": ["blue"]}}, True),
        ({"detail": {"tags": ["green"]}}, False),
        ({"detail": {"customer": {"tier": ["gold"], "country": ["FR"]}}}, True),
        ({"detail": {"customer": {"tier": ["gold"], "country": ["DE"]}}}, False),
        ({"detail": {"items": {"sku": ["b"]}}}, True),
        ({"detail": {"missing": ["x"]}}, False),
        ({"detail": {"state": {"nested": ["x"]}}}, False),
    ],
)
def test_exact_values_arrays_and_nesting(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    ("rule", "field", "expected"),
    [
        ({"prefix": "run"}, "state", True),
        ({"prefix": "Run"}, "state", False),
        ({"prefix": {"equals-ignore-case": "RUN"}}, "state", True),
        ({"suffix": ".PNG"}, "file", True),
        ({"suffix": ".png"}, "file", False),
        ({"suffix": {"equals-ignore-case": ".png"}}, "file", True),
        ({"equals-ignore-case": "RUNNING"}, "state", True),
        ({"equals-ignore-case": "RUN"}, "state", False),
        ({"wildcard": "photos/*.PNG"}, "file", True),
        ({"wildcard": "photos/*.png"}, "file", False),
        ({"wildcard": "*"}, "state", True),
        ({"wildcard": "r*n*g"}, "state", True),
        ({"wildcard": "r*x"}, "state", False),
        ({"anything-but": "stopped"}, "state", True),
        ({"anything-but": ["running", "stopped"]}, "state", False),
        ({"anything-but": 100}, "price", False),
        ({"anything-but": [1, 2]}, "price", True),
        ({"anything-but": {"prefix": "run"}}, "state", False),
        ({"anything-but": {"prefix": "stop"}}, "state", True),
        ({"anything-but": {"suffix": "ing"}}, "state", False),
        ({"anything-but": {"equals-ignore-case": ["RUNNING", "x"]}}, "state", False),
        ({"anything-but": {"equals-ignore-case": "STOPPED"}}, "state", True),
        ({"anything-but": {"wildcard": "r*"}}, "state", False),
        ({"anything-but": {"wildcard": ["s*", "x*"]}}, "state", True),
        ({"anything-but": "x"}, "missing", False),
        ({"numeric": [">", 0, "<=", 100]}, "price", True),
        ({"numeric": [">", 0, "<", 100]}, "price", False),
        ({"numeric": ["=", 100]}, "price", True),
        ({"numeric": [">=", 0.5]}, "ratio", True),
        ({"numeric": ["<", 0.5]}, "ratio", False),
        ({"numeric": [">", 0]}, "state", False),
        ({"exists": True}, "state", True),
        ({"exists": True}, "missing", False),
        ({"exists": False}, "missing", True),
        ({"exists": False}, "state", False),
        ({"exists": True}, "nothing", True),
        ({"exists": True}, "customer", False),  # exists only looks at leaves
        ({"exists": True}, "tags", True),
        ({"cidr": "10.0.0.0/24"}, "ip", True),
        ({"cidr": "10.0.1.0/24"}, "ip", False),
        ({"cidr": "2001:db8::/32"}, "ip6", True),
        ({"cidr": "10.0.0.0/8"}, "state", False),
    ],
)
def test_operators(rule: dict[str, Any], field: str, expected: bool) -> None:
    assert matches({"detail": {field: [rule]}}, EVENT) is expected


def test_operators_apply_to_each_array_element() -> None:
    assert matches({"resources": [{"suffix": ".txt"}]}, EVENT)
    assert matches({"resources": [{"prefix": "arn:aws:s3:::bucket/a"}]}, EVENT)
    assert not matches({"resources": [{"suffix": ".gif"}]}, EVENT)


def test_exists_false_on_a_missing_parent_object_matches() -> None:
    assert matches({"detail": {"gone": {"deeper": [{"exists": False}]}}}, EVENT)
    assert not matches({"missing-parent": {"x": [{"exists": True}]}}, EVENT)


def test_or_across_keys_and_with_other_keys() -> None:
    pattern = {
        "source": ["shop.orders"],
        "$or": [{"detail": {"price": [{"numeric": [">", 500]}]}}, {"detail": {"state": ["running"]}}],
    }
    assert matches(pattern, EVENT)
    pattern["source"] = ["other"]
    assert not matches(pattern, EVENT)
    assert not matches({"$or": [{"detail": {"price": [1]}}, {"detail": {"state": ["x"]}}]}, EVENT)
    nested = {"detail": {"$or": [{"customer": {"tier": ["silver"]}}, {"ratio": [0.5]}]}}
    assert matches(nested, EVENT)


def test_several_matchers_in_one_list_are_or() -> None:
    assert matches({"detail": {"state": [{"prefix": "x"}, "running"]}}, EVENT)
    assert matches({"detail": {"state": [{"exists": False}, {"prefix": "run"}]}}, EVENT)
    assert matches({"detail": {"gone": [{"exists": False}, {"prefix": "run"}]}}, EVENT)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[1]", "Filter is not an object"),
        ("not json", "Filter is not valid JSON"),
        ('{"source": "x"}', '"source" must be an object or an array'),
        ('{"source": []}', "Empty arrays are not allowed"),
        ('{"source": [[1]]}', "Match value must be String, number, true, false, or null"),
        ('{"source": [{"bogus": 1}]}', "Unrecognized match type bogus"),
        ('{"source": [{"prefix": 1}]}', "Value of prefix must be a string or a valid equals-ignore-case expression"),
        ('{"source": [{"numeric": 1}]}', "Value of numeric must be an array."),
        ('{"source": [{"numeric": ["!", 1]}]}', "Unrecognized numeric range operator: !"),
        ('{"source": [{"numeric": [">", "a"]}]}', "Value of > must be numeric"),
        ('{"source": [{"numeric": [">", 5, "<", 1]}]}', "Bottom must be less than top"),
        ('{"source": [{"numeric": ["<", 5, ">", 1]}]}', "Bad numeric range operator"),
        ('{"source": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
        ('{"source": [{"cidr": "10.0.0.1"}]}', "Malformed CIDR, one '/' required"),
        ('{"source": [{"cidr": "10.0.0.300/8"}]}', "Nonstandard IP address"),
        ('{"source": [{"wildcard": "a**b"}]}', "Consecutive wildcard characters at pos 2"),
        ('{"source": [{"anything-but": [true]}]}', "Inside anything but list"),
        ('{"source": [{"anything-but": {"exists": true}}]}', "Unsupported anything-but pattern"),
        ('{"$or": [{"a": ["b"]}]}', "Or relationship must have at least 2 elements"),
        ('{"source": [{"prefix": "a", "suffix": "b"}]}', "Only one key allowed in match expression"),
    ],
)
def test_validation_errors(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as info:
        parse(pattern)
    assert str(info.value).startswith("Event pattern is not valid. Reason: ")
    assert reason in info.value.reason


# -- properties ----------------------------------------------------------------------------

text = st.text(alphabet="abcXYZ.-/*", max_size=8)
numbers = st.integers(min_value=-1000, max_value=1000) | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(value=text, probe=text)
def test_prefix_suffix_and_case_agree_with_python(value: str, probe: str) -> None:
    event = {"f": value}
    assert matches({"f": [{"prefix": probe}]}, event) == value.startswith(probe)
    assert matches({"f": [{"suffix": probe}]}, event) == value.endswith(probe)
    assert matches({"f": [{"equals-ignore-case": probe}]}, event) == (value.casefold() == probe.casefold())
    assert matches({"f": [{"anything-but": probe}]}, event) == (value != probe)


@given(value=numbers, low=numbers, high=numbers)
def test_numeric_range_agrees_with_comparisons(value: float, low: float, high: float) -> None:
    if low > high:
        low, high = high, low
    if low == high:
        return
    pattern = {"n": [{"numeric": [">=", low, "<", high]}]}
    assert matches(pattern, {"n": value}) == (low <= value < high)
    assert matches({"n": [{"numeric": ["=", value]}]}, {"n": value})


@given(value=st.text(alphabet="ab/.", max_size=8), pieces=st.lists(st.text(alphabet="ab/.", max_size=3), min_size=1, max_size=3))
def test_wildcard_is_glob_star(value: str, pieces: list[str]) -> None:
    import fnmatch

    glob = "*".join(pieces)
    if "**" in glob:
        return
    expected = fnmatch.fnmatchcase(value, glob.replace("[", "[[]"))
    assert matches({"f": [{"wildcard": glob}]}, {"f": value}) == expected


@given(address=st.ip_addresses(v=4), prefix=st.integers(min_value=0, max_value=32))
def test_cidr_agrees_with_ipaddress(address: ipaddress.IPv4Address, prefix: int) -> None:
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    probe = network.network_address
    assert matches({"ip": [{"cidr": str(network)}]}, {"ip": str(probe)})
    assert matches({"ip": [{"cidr": str(network)}]}, {"ip": str(address)})


@given(values=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3), probe=st.sampled_from(["a", "b", "c", "d"]))
def test_array_values_are_or_and_event_arrays_match_any(values: list[str], probe: str) -> None:
    assert matches({"f": values}, {"f": probe}) == (probe in values)
    assert matches({"f": [probe]}, {"f": values}) == (probe in values)
