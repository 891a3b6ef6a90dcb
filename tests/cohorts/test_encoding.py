"""The stored form of a member row is exactly json.dumps(compact, UTF-8) and its SHA-256 prefix."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from cohorts.encoding import row_hash_of_json, row_json, row_serialize


def reference(row) -> tuple[str, int]:
    text = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
    return text, int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)


@given(st.lists(st.text()))
def test_row_serialize_equals_the_reference_for_any_strings(row):
    try:
        expected = reference(row)
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8: both forms refuse them
        return
    assert row_serialize(row) == expected


def test_common_rows_and_escapes():
    digest = hashlib.sha256(b"x").hexdigest()
    for row in ([], [""], ["", ""], ["user-1", digest, ""], ['a"b', "c"], ["back\\slash"], ["tab\tnew\nline"],
                ["Zoë", "\u2028", "\x7f", "😀"], ['"', '"'], ['",""', "x"]):
        assert row_serialize(row) == reference(row), row
    assert row_json(["a"]) == '["a"]'
    assert row_hash_of_json('["a"]') == reference(["a"])[1]
