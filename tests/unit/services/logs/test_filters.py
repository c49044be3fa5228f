"""CloudWatch Logs filter patterns: terms, quoted phrases, ?optional, -excluded,
JSON selectors with && / || and regular expressions.

Term patterns also compile to SQL; the SQL form is checked against the Python
form on an in-memory SQLite table (no sockets), so the two can never disagree.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.services.logs.errors import InvalidParameterException
from cloudlet.services.logs.filters import compile_pattern


def matches(pattern: str, message: str) -> bool:
    return compile_pattern(pattern).matches(message)


def sql_matches(pattern: str, message: str) -> bool:
    compiled = compile_pattern(pattern)
    assert compiled.sql is not None
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (message TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (message,))
        row = conn.execute(
            f"SELECT count(*) FROM t WHERE {compiled.sql}", compiled.params
        ).fetchone()
        return bool(row[0])
    finally:
        conn.close()


# ------------------------------------------------------------------- empty


@pytest.mark.parametrize("pattern", [None, "", "   ", '""'])
def test_empty_pattern_matches_everything(pattern: str | None) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.matches_everything
    assert compiled.matches("anything at all")


# ------------------------------------------------------------------- terms


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("ERROR", "[ERROR] disk full", True),
        ("ERROR", "[error] disk full", False),  # case-sensitive
        ("ERROR disk", "[ERROR] disk full", True),
        ("ERROR network", "[ERROR] disk full", False),  # every term must occur
        ('"disk full"', "[ERROR] disk full", True),
        ('"full disk"', "[ERROR] disk full", False),
        ("?ERROR ?WARN", "WARN low memory", True),
        ("?ERROR ?WARN", "INFO all good", False),
        ("ERROR -disk", "[ERROR] disk full", False),
        ("ERROR -network", "[ERROR] disk full", True),
        ('ERROR -"disk full"', "[ERROR] disk full", False),
        ('-"disk full"', "[ERROR] network down", True),
        ("ERROR ?disk ?network", "ERROR network down", True),
        ("ERROR ?disk ?network", "ERROR cpu hot", False),
        ('"say \\"hi\\""', 'they say "hi" twice', True),
    ],
)
def test_terms(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected
    assert sql_matches(pattern, message) is expected


def test_terms_compile_to_sql_with_bound_parameters() -> None:
    compiled = compile_pattern("a'b ?c -d")
    assert compiled.sql is not None
    assert "a'b" not in compiled.sql  # never interpolated into SQL
    assert compiled.params == ("a'b", "c", "d")


@pytest.mark.parametrize("pattern", ['"unterminated', 'abc"def', "[ip, user]"])
def test_malformed_or_unsupported_terms_are_invalid(pattern: str) -> None:
    with pytest.raises(InvalidParameterException):
        compile_pattern(pattern)


# -------------------------------------------------------------------- JSON

DOC = json.dumps(
    {
        "level": "ERROR",
        "latency": 250,
        "ratio": 0.5,
        "user": {"id": "u-17", "name": "Ada"},
        "items": [{"sku": "A1"}, {"sku": "B2"}],
        "ok": False,
        "none": None,
        "tags": ["x", "y"],
    }
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.level = "ERROR" }', True),
        ('{ $.level = "WARN" }', False),
        ('{ $.level != "WARN" }', True),
        ('{$.level="ERR*"}', True),
        ('{ $.level = "*OR" }', True),
        ('{ $.user.id = "u-17" }', True),
        ('{ $.items[1].sku = "B2" }', True),
        ('{ $.items[5].sku = "B2" }', False),
        ("{ $.latency = 250 }", True),
        ("{ $.latency > 100 }", True),
        ("{ $.latency >= 250 }", True),
        ("{ $.latency < 250 }", False),
        ("{ $.latency <= 250.0 }", True),
        ("{ $.latency != 1 }", True),
        ("{ $.ratio = 0.5 }", True),
        ("{ $.ratio = 5e-1 }", True),
        ("{ $.level = 1 }", False),  # numbers only compare with numbers
        ("{ $.ok IS FALSE }", True),
        ("{ $.ok IS TRUE }", False),
        ("{ $.none IS NULL }", True),
        ("{ $.missing IS NULL }", False),
        ("{ $.missing NOT EXISTS }", True),
        ("{ $.level NOT EXISTS }", False),
        ('{ $.level = "ERROR" && $.latency > 100 }', True),
        ('{ $.level = "ERROR" && $.latency > 1000 }', False),
        ('{ $.level = "WARN" || $.latency > 100 }', True),
        ('{ $.level = "WARN" || $.latency > 1000 }', False),
        ('{ ($.level = "WARN" || $.latency > 100) && $.user.name = "Ada" }', True),
        ('{ $.level = "WARN" || ($.latency > 100 && $.user.name = "Bob") }', False),
        ("{ $.level = %ERR.R% }", True),
        ("{ $.level != %^W% }", True),
        ("{ $.user = 1 }", False),  # objects never compare
    ],
)
def test_json_patterns(pattern: str, expected: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.sql is None  # evaluated in Python
    assert compiled.matches(DOC) is expected


@pytest.mark.parametrize("message", ["not json", "", "[1, 2", "START RequestId: 1 {}"])
def test_json_pattern_never_matches_messages_that_are_not_json(message: str) -> None:
    assert not matches('{ $.level = "ERROR" }', message)
    assert not matches("{ $.a NOT EXISTS }", message)


def test_json_selectors_into_non_objects_find_nothing() -> None:
    assert not matches('{ $.level = "ERROR" }', '"just a string"')
    assert matches("{ $.level NOT EXISTS }", "[1, 2]")
    assert matches("{ $[1] = 2 }", "[1, 2]")


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.a = 1",  # unterminated
        "{ }",
        "{ $.a }",
        "{ $.a = }",
        "{ a = 1 }",  # selector must start with $
        "{ $.a === 1 }",
        '{ $.a < "x" }',  # strings only = / !=
        "{ $.a = 1 && }",
        "{ ($.a = 1 }",
        "{ $.a = 1 ) }",
        "{ $.a IS MAYBE }",
        '{ $.a = "\\d" }',  # an escape JSON does not know
        "{ $.a > %x% }",
        "{ $.a = %(% }",
    ],
)
def test_malformed_json_patterns_are_invalid(pattern: str) -> None:
    with pytest.raises(InvalidParameterException) as info:
        compile_pattern(pattern)
    assert info.value.code == "InvalidParameterException"
    assert "Invalid filter pattern" in info.value.message


def test_word_values_that_look_like_floats_are_strings() -> None:
    # "nan"/"inf" parse as floats in Python but are plain words in a pattern.
    assert matches("{ $.v = nan }", '{"v": "nan"}')
    assert matches("{ $.v = Infinity }", '{"v": "Infinity"}')


# ------------------------------------------------------------------- regex


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("%ERR(OR)?%", "an ERR here", True),
        ("%^\\[ERROR\\]%", "[ERROR] x", True),
        ("%^\\[ERROR\\]%", "x [ERROR]", False),
        ("%[0-9]{3}ms%", "took 250ms", True),
        ("%[0-9]{3}ms%", "took 25ms", False),
    ],
)
def test_regex_patterns(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


@pytest.mark.parametrize("pattern", ["%%", "%(unclosed%"])
def test_malformed_regex_is_invalid(pattern: str) -> None:
    with pytest.raises(InvalidParameterException):
        compile_pattern(pattern)


# -------------------------------------------------------------- properties

WORDS = st.text(alphabet="abcXYZ019_.:", min_size=1, max_size=6)
MESSAGES = st.text(alphabet="abcXYZ019_.: \"'", max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    required=st.lists(WORDS, max_size=3),
    optional=st.lists(WORDS, max_size=3),
    excluded=st.lists(WORDS, max_size=2),
    message=MESSAGES,
)
def test_term_semantics_and_sql_agree(
    required: list[str], optional: list[str], excluded: list[str], message: str
) -> None:
    parts = (
        [f'"{w}"' for w in required] + [f'?"{w}"' for w in optional] + [f'-"{w}"' for w in excluded]
    )
    pattern = " ".join(parts)
    expected = (
        all(w in message for w in required)
        and (not optional or any(w in message for w in optional))
        and not any(w in message for w in excluded)
    )
    assert matches(pattern, message) is expected
    if parts:
        assert sql_matches(pattern, message) is expected


SCALARS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.text(alphabet="abcXYZ019 -", max_size=8),
    st.booleans(),
    st.none(),
)


@settings(max_examples=200, deadline=None)
@given(value=SCALARS, threshold=st.integers(-1000, 1000))
def test_json_numeric_comparisons_follow_python(value: object, threshold: int) -> None:
    message = json.dumps({"v": value})
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    for op, fn in [
        ("=", lambda a, b: a == b),
        ("!=", lambda a, b: a != b),
        ("<", lambda a, b: a < b),
        (">", lambda a, b: a > b),
        ("<=", lambda a, b: a <= b),
        (">=", lambda a, b: a >= b),
    ]:
        expected = is_number and fn(float(value), threshold)  # type: ignore[arg-type]
        assert matches(f"{{ $.v {op} {threshold} }}", message) is expected, op


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet="abcXYZ019 -*.", max_size=10))
def test_json_string_equality_is_exact_without_wildcards(value: str) -> None:
    message = json.dumps({"v": value})
    literal = value.replace("*", "")
    assert matches(f"{{ $.v = {json.dumps(literal)} }}", json.dumps({"v": literal}))
    if "*" not in value:
        assert matches(f"{{ $.v = {json.dumps(value)} }}", message)
        assert not matches(f"{{ $.v != {json.dumps(value)} }}", message)
        assert not matches(f"{{ $.v = {json.dumps(value + 'z')} }}", message)
