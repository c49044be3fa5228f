"""Tokens of DynamoDB expressions.

A token keeps its text and offset so that syntax errors can quote the
offending token and the text around it, as DynamoDB does
(``Syntax error; token: "=", near: "a == :b"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudlet.errors import ValidationError

KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"})
_PUNCTUATION = ("<=", ">=", "<>", "=", "<", ">", "(", ")", "[", "]", ",", ".", "+", "-")


@dataclass(frozen=True)
class Token:
    kind: str  # NAME NAMEREF VALUEREF NUMBER KEYWORD PUNCT EOF
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def upper(self) -> str:
        return self.text.upper()


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def tokenize(text: str, kind_name: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "#:":
            i += 1
            while i < n and _is_name_char(text[i]):
                i += 1
            if i == start + 1:  # a lone "#" or ":" is a token of its own; the parser rejects it
                tokens.append(Token("PUNCT", ch, start))
                continue
            tokens.append(Token("NAMEREF" if ch == "#" else "VALUEREF", text[start:i], start))
            continue
        if ch.isdigit():
            while i < n and text[i].isdigit():
                i += 1
            tokens.append(Token("NUMBER", text[start:i], start))
            continue
        if _is_name_char(ch):
            while i < n and _is_name_char(text[i]):
                i += 1
            word = text[start:i]
            tokens.append(Token("KEYWORD" if word.upper() in KEYWORDS else "NAME", word, start))
            continue
        for punct in _PUNCTUATION:
            if text.startswith(punct, i):
                tokens.append(Token("PUNCT", punct, start))
                i += len(punct)
                break
        else:
            raise ValidationError(f'Invalid {kind_name}: Invalid character encountered; character: "{ch}", near: "{text[max(0, start - 1):start + 1]}"')
    tokens.append(Token("EOF", "<EOF>", n))
    return tokens


def syntax_error(
    kind_name: str, text: str, token: Token, previous: Token | None, following: Token | None = None
) -> ValidationError:
    """DynamoDB quotes the offending token and the text from the token before it to the one after it."""
    start = previous.start if previous is not None else token.start
    last = following if following is not None and token.kind != "EOF" else token
    end = last.end if last.kind != "EOF" else len(text)
    near = text[start:end]
    return ValidationError(f'Invalid {kind_name}: Syntax error; token: "{token.text}", near: "{near}"')
