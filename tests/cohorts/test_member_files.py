"""Reading member files: real CSV (quotes, commas, newlines inside values), line numbers, column lookup."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.errors import CohortFileInvalid
from cohorts.member_files import MemberFileReader

HEADER = ["amplitude_id", "user_id", "email", "first_name"]
value = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)


def read(data: bytes, columns: list[str], *, amplitude: bool = False, size: int = 3):
    reader = MemberFileReader(binary=io.BytesIO(data), columns=columns, error_class=CohortFileInvalid,
                              amplitude=amplitude)
    chunks = list(reader.chunks(size))
    return reader, chunks


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(value, value, value), max_size=12))
def test_any_values_written_as_csv_come_back_exactly(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for index, (user_id, email, name) in enumerate(rows):
        writer.writerow([index, user_id, email, name])
    _, chunks = read(out.getvalue().encode(), ["email", "user_id", "first_name"])
    values = [row for chunk in chunks for row in chunk.values]
    assert values == [(email, user_id, name) for user_id, email, name in rows]
    assert all(not chunk.rejected for chunk in chunks)


def test_line_numbers_count_physical_lines():
    data = b'amplitude_id,user_id,email\n1,a,"x\ny"\n2,b\n3,c,z\n'
    _, chunks = read(data, ["user_id"])
    (chunk,) = chunks
    assert chunk.lines == [2, 5]
    assert chunk.rejected == [(4, "wrong number of columns")]


def test_amplitude_property_columns_may_carry_the_gp_prefix():
    reader, chunks = read(b"amplitude_id,user_id,gp:email\n1,a,x@y.z\n", ["email", "user_id", "phone"], amplitude=True)
    assert chunks[0].values == [("x@y.z", "a", "")]
    assert reader.warnings == ["No column for phone: those keys are empty for every member."]


def test_a_byte_order_mark_is_not_part_of_the_first_column():
    _, chunks = read("\ufeffuser_id,email\nu1,a@b.c\n".encode(), ["user_id"])
    assert chunks[0].values == [("u1",)]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b'user_id\n"open', "truncated"), (b"name\nx\n", "none of the mapped columns")],
)
def test_unreadable_files(data, message):
    with pytest.raises(CohortFileInvalid, match=message):
        read(data, ["user_id"])
