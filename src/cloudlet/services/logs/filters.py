"""CloudWatch Logs filter patterns, compiled once per request.

Three of the pattern families AWS documents are supported:

* **Terms** (unstructured events): space-separated terms that must all occur
  (``ERROR timeout``), ``"quoted phrases"`` matched as one term, ``?term``
  alternatives of which at least one must occur, ``-term`` terms that must not
  occur.  Matching is case-sensitive substring matching.  Term patterns
  compile to a SQL predicate over the ``message`` column (``instr``), so the
  database does the scanning and can stop at the page limit, and to the
  equivalent Python predicate (``matches``) for callers without a database.
* **JSON** (``{ $.level = "ERROR" && $.ms > 100 }``): selectors ``$.a.b[0]``;
  operators ``= != < > <= >=``; string values with ``*`` wildcards; numbers;
  ``IS TRUE|FALSE|NULL``, ``NOT EXISTS``; ``&&``, ``||`` and parentheses.
* **Regular expressions** (``%ab+c%``), evaluated with Python's ``re``.

JSON and regex patterns compile to a Python predicate evaluated row by row.
Space-delimited patterns (``[ip, user, ...]``) are not supported: they are
answered with ``InvalidParameterException``, like any malformed pattern.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudlet.services.logs.errors import InvalidParameterException

Predicate = Callable[[str], bool]


@dataclass(frozen=True)
class CompiledPattern:
    """A Python predicate, and for term patterns also an equivalent SQL one.

    ``sql`` (with ``?`` placeholders bound to ``params``) is a condition on a
    column named ``message``; when present, a database query should use it
    instead of calling ``matches`` row by row.
    """

    sql: str | None = None
    params: tuple[Any, ...] = ()
    predicate: Predicate | None = None

    @property
    def matches_everything(self) -> bool:
        return self.sql is None and self.predicate is None

    def matches(self, message: str) -> bool:
        return self.predicate is None or self.predicate(message)


MATCH_ALL = CompiledPattern()


def invalid(pattern: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid filter pattern: {pattern}")


def compile_pattern(pattern: str | None) -> CompiledPattern:
    """Parse ``pattern``; raise ``InvalidParameterException`` if it is malformed or unsupported."""
    text = (pattern or "").strip()
    if not text or text == '""':
        return MATCH_ALL
    if text.startswith("{"):
        return CompiledPattern(predicate=_compile_json(text, pattern or ""))
    if text.startswith("["):
        raise InvalidParameterException(
            "Space-delimited filter patterns ([...]) are not supported by Cloudlet"
        )
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        regex = _compile_regex(text[1:-1], text)
        return CompiledPattern(predicate=lambda message: regex.search(message) is not None)
    return _compile_terms(text)


# ------------------------------------------------------------------------ terms

_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _compile_terms(text: str) -> CompiledPattern:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TERM.match(text, pos)
        if match is None or (match.group(3) or "").count('"'):
            raise invalid(text)
        prefix, quoted, bare = match.groups()
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        pos = match.end()
        if not term:
            continue
        {"": required, "?": optional, "-": excluded}[prefix].append(term)
    clauses: list[str] = []
    params: list[Any] = []
    for term in required:
        clauses.append("instr(message, ?) > 0")
        params.append(term)
    if optional:
        clauses.append("(" + " OR ".join("instr(message, ?) > 0" for _ in optional) + ")")
        params.extend(optional)
    for term in excluded:
        clauses.append("instr(message, ?) = 0")
        params.append(term)
    if not clauses:
        return MATCH_ALL

    def predicate(message: str) -> bool:
        return (
            all(term in message for term in required)
            and (not optional or any(term in message for term in optional))
            and not any(term in message for term in excluded)
        )

    return CompiledPattern(sql=" AND ".join(clauses), params=tuple(params), predicate=predicate)


def _compile_regex(body: str, text: str) -> re.Pattern[str]:
    if not body:
        raise invalid(text)
    try:
        return re.compile(body)
    except re.error as exc:
        raise invalid(text) from exc


# ------------------------------------------------------------------------- JSON

_JSON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<regex>%(?:[^%\\]|\\.)+%)
      | (?P<word>[^\s()&|!=<>"]+)
    )""",
    re.VERBOSE,
)
_SELECTOR = re.compile(r"\$(?:\.[A-Za-z0-9_@-]+|\[\d+\])*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_MISSING = object()


def _tokenize(body: str, text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    body = body.rstrip()
    while pos < len(body):
        match = _JSON_TOKEN.match(body, pos)
        if match is None or match.end() == pos:
            raise invalid(text)
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(body) and body[pos].isspace():
            pos += 1
    return tokens


class _JsonParser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise invalid(self.text)
        self.pos += 1
        return token

    def parse(self) -> Callable[[Any], bool]:
        node = self.expr()
        if self.peek() is not None:
            raise invalid(self.text)
        return node

    def expr(self) -> Callable[[Any], bool]:
        terms = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda doc: any(t(doc) for t in terms))

    def conjunction(self) -> Callable[[Any], bool]:
        terms = [self.unary()]
        while self.peek() == ("op", "&&"):
            self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda doc: all(t(doc) for t in terms))

    def unary(self) -> Callable[[Any], bool]:
        if self.peek() == ("op", "("):
            self.take()
            node = self.expr()
            if self.take() != ("op", ")"):
                raise invalid(self.text)
            return node
        return self.comparison()

    def comparison(self) -> Callable[[Any], bool]:
        kind, word = self.take()
        if kind != "word" or not _SELECTOR.fullmatch(word):
            raise invalid(self.text)
        path = _selector_path(word)
        kind, op = self.take()
        if kind == "word" and op.upper() in ("IS", "NOT"):
            return self.keyword_test(path, op.upper())
        if kind != "op" or op not in ("=", "!=", "<", ">", "<=", ">="):
            raise invalid(self.text)
        vkind, raw = self.take()
        return _comparison(path, op, vkind, raw, self.text)

    def keyword_test(self, path: list[str | int], first: str) -> Callable[[Any], bool]:
        _, word = self.take()
        word = word.upper()
        if first == "NOT" and word == "EXISTS":
            return lambda doc: _lookup(doc, path) is _MISSING
        if first == "IS" and word in ("TRUE", "FALSE", "NULL"):
            expected = {"TRUE": True, "FALSE": False, "NULL": None}[word]
            return lambda doc: (value := _lookup(doc, path)) is not _MISSING and value is expected
        raise invalid(self.text)


def _selector_path(selector: str) -> list[str | int]:
    path: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z0-9_@-]+)|\[(\d+)\]", selector):
        path.append(name if name else int(index))
    return path


def _lookup(doc: Any, path: list[str | int]) -> Any:
    value = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                return _MISSING
            value = value[key]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return _MISSING
    return value


def _comparison(
    path: list[str | int], op: str, kind: str, raw: str, text: str
) -> Callable[[Any], bool]:
    if kind == "string":
        try:
            expected = json.loads(raw)
        except ValueError as exc:  # an escape JSON does not know, e.g. "\d"
            raise invalid(text) from exc
        return _string_test(path, op, expected, text)
    if kind == "regex":
        if op not in ("=", "!="):
            raise invalid(text)
        regex = _compile_regex(raw[1:-1], text)

        def regex_test(doc: Any) -> bool:
            value = _lookup(doc, path)
            if value is _MISSING or isinstance(value, dict | list):
                return False
            found = regex.search(_as_text(value)) is not None
            return found if op == "=" else not found

        return regex_test
    if kind != "word":
        raise invalid(text)
    if not _NUMBER.fullmatch(raw):
        return _string_test(path, op, raw, text)
    number = float(raw)

    def number_test(doc: Any) -> bool:
        value = _lookup(doc, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _compare(float(value), op, number)

    return number_test


def _string_test(path: list[str | int], op: str, expected: str, text: str) -> Callable[[Any], bool]:
    if op not in ("=", "!="):
        raise invalid(text)
    # ``*`` is the only wildcard; everything else is literal.
    regex = re.compile("".join(".*" if c == "*" else re.escape(c) for c in expected), re.DOTALL)

    def string_test(doc: Any) -> bool:
        value = _lookup(doc, path)
        if value is _MISSING or isinstance(value, dict | list):
            return False
        hit = regex.fullmatch(_as_text(value)) is not None
        return hit if op == "=" else not hit

    return string_test


def _as_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(left: float, op: str, right: float) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    return left >= right


def _compile_json(text: str, original: str) -> Predicate:
    if not text.endswith("}"):
        raise invalid(original)
    body = text[1:-1].strip()
    if not body:
        raise invalid(original)
    matcher = _JsonParser(_tokenize(body, original), original).parse()

    def predicate(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return matcher(doc)

    return predicate
