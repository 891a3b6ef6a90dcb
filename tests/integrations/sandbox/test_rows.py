"""The sandbox's reading of an upload: the bulk path keys and matches rows exactly as the
one-row definitions do (`row_key`, and a match on any EMAIL, PHONE or MADID of a Facebook
person), whatever mix of complete rows, empty values and schemas a request holds."""

from __future__ import annotations

import random

import pytest

from integrations.sandbox import graph_errors, population
from integrations.sandbox.rows import parse_payload, row_key
from tests.integrations.sandbox.conftest import TEST_POPULATION_SIZE, sha


def _person_values(index: int) -> dict[str, str]:
    person = population.person(index)
    return {"EMAIL": sha(person.email), "PHONE": sha(person.phone), "MADID": person.device_id.lower(),
            "FN": sha(person.first_name.lower()), "COUNTRY": sha(person.country.lower())}


def _facebook_values(size: int) -> set[str]:
    values = set(population.facebook_match_digests(size))
    values |= {population.person(i).device_id.lower() for i in range(size) if population.person(i).on_facebook}
    return values


def _expected(schema: list[str], rows: list[list[str]]) -> list[tuple[int, bool]]:
    on_facebook = _facebook_values(TEST_POPULATION_SIZE)
    expected = []
    for row in rows:
        if not any(row):
            continue
        matched = any(value in on_facebook for key, value in zip(schema, row, strict=True)
                      if key in ("EMAIL", "PHONE", "MADID") and value)
        expected.append((row_key(schema, row), matched))
    return expected


@pytest.mark.parametrize(
    "schema",
    [["EMAIL", "PHONE"], ["PHONE", "EMAIL", "FN"], ["MADID", "EMAIL"], ["COUNTRY", "PHONE", "MADID"], ["EMAIL"]],
)
@pytest.mark.parametrize("empty_share", [0.0, 0.3])
def test_bulk_keys_and_matches_equal_the_one_row_definitions(schema, empty_share) -> None:
    chooser = random.Random(f"{schema}-{empty_share}")
    # People inside and beyond the population (those beyond are never on Facebook).
    indexes = chooser.sample(range(TEST_POPULATION_SIZE + 2_000), 3_000)
    rows = []
    for index in indexes:
        values = _person_values(index)
        rows.append([("" if chooser.random() < empty_share else values[key]) for key in schema])
    rows.append([""] * len(schema))  # a row without any value

    parsed = parse_payload({"schema": schema, "is_raw": True, "data": rows})

    assert sorted(zip(parsed.keys, parsed.matched, strict=True)) == sorted(_expected(schema, rows))
    assert parsed.num_received == len(rows)
    assert parsed.num_invalid_entries == sum(1 for row in rows if not any(row))
    assert 0 < sum(parsed.matched) < len(parsed.keys)  # both kinds of row were exercised


def test_a_single_key_schema_is_read_as_rows_of_one_value() -> None:
    emails = [_person_values(index)["EMAIL"] for index in range(50)]

    parsed = parse_payload({"schema": "EMAIL_SHA256", "data": emails})

    assert sorted(zip(parsed.keys, parsed.matched, strict=True)) == sorted(_expected(["EMAIL"], [[e] for e in emails]))


@pytest.mark.parametrize("bad", ["ABCDEF" + "0" * 58, "a" * 63, "g" * 64, "é" * 64, "someone@example.com"])
def test_a_hashed_key_that_is_not_64_lowercase_hex_digits_is_refused(bad) -> None:
    rows = [[_person_values(index)["EMAIL"]] for index in range(20)]
    rows[13] = [bad]

    with pytest.raises(graph_errors.GraphRefusal) as refused:
        parse_payload({"schema": ["EMAIL"], "is_raw": True, "data": rows})

    assert "row 13 is not hashed" in str(refused.value)
