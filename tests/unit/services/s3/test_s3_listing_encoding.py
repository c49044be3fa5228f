"""``encoding-type=url`` keys and continuation tokens: what they encode comes back unchanged."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.s3.listing import encode_key, make_token, read_token

#: Keys as S3 takes them: any Unicode text but surrogates (not UTF-8 encodable).
KEYS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=64)


@given(KEYS)
def test_url_encoding_is_quote_with_slash_kept(key: str) -> None:
    # The fast path for plain keys must give exactly what quote() gives.
    assert encode_key(key, "url") == quote(key, safe="/")
    assert unquote(encode_key(key, "url")) == key


@given(KEYS)
def test_no_encoding_leaves_keys_alone(key: str) -> None:
    assert encode_key(key, None) == key


@pytest.mark.parametrize(("key", "encoded"), [
    ("plain/key-1_2.3~", "plain/key-1_2.3~"),
    ("sp ace", "sp%20ace"),
    ("a+b&c=d", "a%2Bb%26c%3Dd"),
    ("ü/é", "%C3%BC/%C3%A9"),
    ("tab\there", "tab%09here"),
    ("per%cent", "per%25cent"),
    ("", ""),
])
def test_url_encoding_table(key: str, encoded: str) -> None:
    assert encode_key(key, "url") == encoded


@given(KEYS)
def test_tokens_round_trip(key: str) -> None:
    token = make_token(key)
    assert read_token(token) == key
    assert quote(token, safe="") == token.replace("=", "%3D")  # only padding needs escaping in a URL


@pytest.mark.parametrize("token", ["!!", "abc", "////", "\u00e9", "gA=="])
def test_bad_tokens_are_refused(token: str) -> None:
    assert read_token(token) is None
