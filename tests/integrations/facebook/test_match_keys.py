"""Meta's normalisation and hashing per key (integrations.facebook.match_keys)."""

from __future__ import annotations

import calendar
import gc
import hashlib
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.facebook import match_key_tables as tables
from integrations.facebook.match_keys import (
    HASHED,
    HASHED_KEYS,
    IDENTIFYING_KEYS,
    INVALID,
    MAX_VALUE_CHARS,
    MISSING,
    REJECT_MALFORMED_ROW,
    REJECT_NO_IDENTIFYING_KEY,
    SCHEMA_KEYS,
    UNHASHED_KEYS,
    VALID,
    classify,
    encode,
    encode_rows,
    normalize,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


DIGEST = sha("someone@example.com")
THIS_YEAR = date.today().year


# --- Schema constants ------------------------------------------------------------------------


def test_schema_keys_follow_metas_order_and_partition_into_hashed_and_unhashed():
    assert SCHEMA_KEYS == (
        "EXTERN_ID", "EMAIL", "PHONE", "GEN", "DOBY", "DOBM", "DOBD", "LN", "FN", "FI", "CT", "ST", "ZIP",
        "MADID", "COUNTRY", "LOOKALIKE_VALUE",
    )  # fmt: skip
    assert sorted(IDENTIFYING_KEYS) == ["EMAIL", "EXTERN_ID", "MADID", "PHONE"]
    assert sorted(UNHASHED_KEYS) == ["EXTERN_ID", "LOOKALIKE_VALUE", "MADID"]
    assert sorted(HASHED_KEYS | UNHASHED_KEYS) == sorted(SCHEMA_KEYS)
    assert not HASHED_KEYS & UNHASHED_KEYS


def test_unknown_key_or_default_country_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown match key"):
        encode("EMAILS", "a@b.co")
    with pytest.raises(ValueError, match="default_country"):
        encode("PHONE", "5551234567", default_country="XX")
    with pytest.raises(ValueError, match="duplicate"):
        encode_rows(["EMAIL", "EMAIL"], [])
    with pytest.raises(ValueError, match="empty schema"):
        encode_rows([], [])


# --- Table tests per key ---------------------------------------------------------------------
# (key, raw value, default country, Meta's normalised form or None when unusable)

CASES = [
    # EMAIL: trim and lowercase, nothing else (no dot or plus canonicalisation)
    ("EMAIL", "  John.Doe+ads@Example.COM ", None, "john.doe+ads@example.com"),
    ("EMAIL", "\tJANE@EXAMPLE.CO.UK\u200b", None, "jane@example.co.uk"),
    ("EMAIL", "\ufeffbom@example.com", None, "bom@example.com"),
    ("EMAIL", "josé@exämple.com", None, "josé@exämple.com"),
    ("EMAIL", "JOSE\u0301@example.com", None, "josé@example.com"),  # decomposed accent -> NFC
    ("EMAIL", "john@gmail", None, None),
    ("EMAIL", "john.gmail.com", None, None),
    ("EMAIL", "john doe@gmail.com", None, None),
    ("EMAIL", "a@b@c.com", None, None),
    ("EMAIL", "a\x00b@c.com", None, None),
    ("EMAIL", "x" * 250 + "@b.com", None, None),  # over 254 characters
    # PHONE: symbols, letters and leading zeros go; the country code must be there
    ("PHONE", "(555) 123-4567", "US", "15551234567"),
    ("PHONE", "555.123.4567", "US", "15551234567"),
    ("PHONE", "1-555-123-4567", "US", "15551234567"),
    ("PHONE", "+1 (555) 123-4567", "GB", "15551234567"),
    ("PHONE", "+1 555 123 4567 ext. 89", None, "15551234567"),
    ("PHONE", "555-123-4567 x89", "US", "15551234567"),
    ("PHONE", "tel:+15551234567", None, "15551234567"),
    ("PHONE", "07700 900123", "GB", "447700900123"),
    ("PHONE", "447700900123", "GB", "447700900123"),
    ("PHONE", "+44 (0)7700 900123", None, "447700900123"),
    ("PHONE", "0044 7700 900123", "US", "447700900123"),
    ("PHONE", "011 44 7700 900123", "US", "447700900123"),
    ("PHONE", "0011 44 7700 900123", "AU", "447700900123"),
    ("PHONE", "447700900123", "US", "447700900123"),  # foreign number without "+"
    ("PHONE", "030 1234567", "DE", "49301234567"),
    ("PHONE", "8 (916) 123-45-67", "RU", "79161234567"),
    ("PHONE", "06 12 34 56 78", "FR", "33612345678"),
    ("PHONE", "06 1234 5678", "IT", "390612345678"),  # Italian numbers keep their 0
    ("PHONE", "+39 06 1234 5678", None, "390612345678"),
    (
        "PHONE",
        "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13",
        "GB",
        "447700900123",
    ),  # full-width
    ("PHONE", "+15551234567", None, "15551234567"),
    ("PHONE", "5551234567", "US", "15551234567"),
    ("PHONE", 15551234567, None, "15551234567"),
    ("PHONE", 15551234567.0, None, "15551234567"),
    ("PHONE", "5551234", "US", None),  # too short for a US number
    ("PHONE", "+999 1234 5678", None, None),  # no such calling code
    ("PHONE", "1-800-FLOWERS", "US", None),
    ("PHONE", "+", None, None),
    ("PHONE", "12345678901234567890123", None, None),
    # GEN: m or f; an unknown gender is unusable, never "m"
    ("GEN", "Female", None, "f"),
    ("GEN", " F ", None, "f"),
    ("GEN", "woman", None, "f"),
    ("GEN", "Mrs.", None, "f"),
    ("GEN", "M", None, "m"),
    ("GEN", "male", None, "m"),
    ("GEN", "Männlich", None, "m"),
    ("GEN", "unknown", None, None),
    ("GEN", "x", None, None),
    ("GEN", "nonbinary", None, None),
    ("GEN", "u", None, None),
    # DOBY: four digits, 1900 to this year
    ("DOBY", "1985", None, "1985"),
    ("DOBY", 1985, None, "1985"),
    ("DOBY", "1900", None, "1900"),
    ("DOBY", str(THIS_YEAR), None, str(THIS_YEAR)),
    ("DOBY", str(THIS_YEAR + 1), None, None),
    ("DOBY", "1800", None, None),
    ("DOBY", "85", None, None),
    ("DOBY", "1990-05-17", None, "1990"),
    ("DOBY", date(1990, 5, 17), None, "1990"),
    # DOBM: 01-12, month names and abbreviations too
    ("DOBM", "January", None, "01"),
    ("DOBM", "jan", None, "01"),
    ("DOBM", "Jan.", None, "01"),
    ("DOBM", "SEPT", None, "09"),
    ("DOBM", "1", None, "01"),
    ("DOBM", "01", None, "01"),
    ("DOBM", 12, None, "12"),
    ("DOBM", "mars", None, "03"),
    ("DOBM", "13", None, None),
    ("DOBM", "0", None, None),
    ("DOBM", "smarch", None, None),
    ("DOBM", "1990-05-17", None, "05"),
    # DOBD: 01-31
    ("DOBD", "7", None, "07"),
    ("DOBD", "07", None, "07"),
    ("DOBD", "31", None, "31"),
    ("DOBD", "1st", None, "01"),
    ("DOBD", "32", None, None),
    ("DOBD", "0", None, None),
    ("DOBD", "1990-05-17", None, "17"),
    ("DOBD", "1990-02-30", None, None),
    # FN / LN: lowercase, no punctuation, UTF-8 letters stay (Meta's own example: Valéry -> valéry)
    ("FN", "Valéry", None, "valéry"),
    ("FN", "  JOHN ", None, "john"),
    ("FN", "Mary-Ann", None, "maryann"),
    ("FN", "Zoë", None, "zoë"),
    ("FN", "정", None, "정"),
    ("FN", "Zoe\u0308", None, "zoë"),  # decomposed diaeresis -> NFC
    ("FN", "John3", None, "john"),
    ("FN", "😀", None, None),
    ("FN", "...", None, None),
    ("LN", "O'Neil", None, "oneil"),
    ("LN", "Smith-Jones", None, "smithjones"),
    ("LN", "Núñez", None, "núñez"),
    ("LN", "van der Berg", None, "vanderberg"),
    # FI: first character of the normalised first name
    ("FI", "Valéry", None, "v"),
    ("FI", "Émile", None, "é"),
    ("FI", "j.", None, "j"),
    ("FI", "'Olu", None, "o"),
    # CT: lowercase, no punctuation or spaces, UTF-8 letters stay
    ("CT", "New York", None, "newyork"),
    ("CT", "São Paulo", None, "sãopaulo"),
    ("CT", "St. Louis", None, "stlouis"),
    # ST: US state names become their 2-letter code; elsewhere lowercase letters
    ("ST", "New York", None, "ny"),
    ("ST", "NEW YORK", None, "ny"),
    ("ST", "new york", None, "ny"),
    ("ST", "NY", None, "ny"),
    ("ST", "N.Y.", None, "ny"),
    ("ST", "California", None, "ca"),
    ("ST", "District of Columbia", None, "dc"),
    ("ST", "Puerto Rico", None, "pr"),
    ("ST", "Île-de-France", None, "îledefrance"),
    ("ST", "Bayern", None, "bayern"),
    # ZIP: lowercase, no spaces or dashes; US ZIP+4 -> 5 digits; UK per Meta's example
    ("ZIP", "37221-3312", None, "37221"),
    ("ZIP", "37221 3312", None, "37221"),
    ("ZIP", "372213312", "US", "37221"),
    ("ZIP", "372213312", "DE", "372213312"),
    ("ZIP", "94035", None, "94035"),
    ("ZIP", "M1 1AE", None, "m11ae"),
    ("ZIP", "SW1A 1AA", None, "sw1a1aa"),
    ("ZIP", "01310-100", None, "01310100"),  # a Brazilian CEP is not a ZIP+4
    ("ZIP", "K1A 0B1", None, "k1a0b1"),
    ("ZIP", "unknown", None, None),
    ("ZIP", "12", None, None),
    # COUNTRY: ISO 3166-1 alpha-2, lowercase
    ("COUNTRY", "US", None, "us"),
    ("COUNTRY", "United States", None, "us"),
    ("COUNTRY", "UNITED STATES OF AMERICA", None, "us"),
    ("COUNTRY", "USA", None, "us"),
    ("COUNTRY", "U.S.A.", None, "us"),
    ("COUNTRY", "UK", None, "gb"),
    ("COUNTRY", "United Kingdom", None, "gb"),
    ("COUNTRY", "Deutschland", None, "de"),
    ("COUNTRY", "Germany", None, "de"),
    ("COUNTRY", "The Netherlands", None, "nl"),
    ("COUNTRY", "Korea, Republic of", None, "kr"),
    ("COUNTRY", "Côte d'Ivoire", None, "ci"),
    ("COUNTRY", "deu", None, "de"),
    ("COUNTRY", "XX", None, None),
    ("COUNTRY", "Atlantis", None, None),
    # MADID: lowercase, hyphens kept, not hashed
    ("MADID", "6D92078A-8246-4BA4-AE5B-76104861E7DC", None, "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    ("MADID", "6d92078a82464ba4ae5b76104861e7dc", None, "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    ("MADID", "00000000-0000-0000-0000-000000000000", None, None),  # iOS with tracking limited
    ("MADID", "not-a-device-id", None, None),
    # EXTERN_ID: sent as given after trimming; case kept; control characters inside are unusable
    ("EXTERN_ID", "  CRM-0042 ", None, "CRM-0042"),
    ("EXTERN_ID", 42, None, "42"),
    ("EXTERN_ID", "user 42", None, "user 42"),
    ("EXTERN_ID", "a\tb", None, None),
    ("EXTERN_ID", "a\nb", None, None),
    # LOOKALIKE_VALUE: a non-negative number, not hashed
    ("LOOKALIKE_VALUE", "12.50", None, "12.5"),
    ("LOOKALIKE_VALUE", 100, None, "100"),
    ("LOOKALIKE_VALUE", 0.1, None, "0.1"),
    ("LOOKALIKE_VALUE", Decimal("19.990"), None, "19.99"),
    ("LOOKALIKE_VALUE", "1e3", None, "1000"),
    ("LOOKALIKE_VALUE", "0", None, "0"),
    ("LOOKALIKE_VALUE", -5, None, None),
    ("LOOKALIKE_VALUE", "1,234.56", None, None),
    ("LOOKALIKE_VALUE", "ten", None, None),
    ("LOOKALIKE_VALUE", float("inf"), None, None),
]


@pytest.mark.parametrize(("key", "raw", "country", "expected"), CASES)
def test_normalize_and_encode_per_key(key, raw, country, expected):
    assert normalize(key, raw, default_country=country) == expected
    uploaded = encode(key, raw, default_country=country)
    if expected is None:
        assert uploaded is None
        assert classify(key, raw, default_country=country) == INVALID
    elif key in UNHASHED_KEYS:
        assert uploaded == expected
    else:
        assert uploaded == sha(expected)
        assert classify(key, raw, default_country=country) == VALID


def test_hash_is_lowercase_hex_sha256_of_utf8():
    assert encode("EMAIL", "Test@Example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    assert encode("FN", "Valéry") == hashlib.sha256("valéry".encode()).hexdigest()


def test_digests_match_hashlib_across_sha256_block_boundaries():
    # The encoder hashes with CPython's own SHA-256, not hashlib's OpenSSL: the same digest is
    # uploaded for values of every length around SHA-256's 55-, 64- and 119-byte padding limits.
    values = [f"{'a' * length}@example.com" for length in range(1, 140)] + [
        f"{'é' * length}@example.com" for length in (26, 27, 28, 59, 60)
    ]
    emails = encode_rows(["EMAIL"], [[value] for value in values]).rows
    names = encode_rows(["EXTERN_ID", "FN"], [["id", "x" * length] for length in range(1, 140)]).rows
    assert emails == [[sha(value)] for value in values]
    assert [encode("EMAIL", value) for value in values] == [sha(value) for value in values]
    assert [row[1] for row in names] == [sha("x" * length) for length in range(1, 140)]

# --- Digests, missing values and junk --------------------------------------------------------


@pytest.mark.parametrize("key", sorted(HASHED_KEYS))
def test_a_digest_passes_through_lowercased_and_is_never_hashed_again(key):
    assert encode(key, f"  {DIGEST.upper()}\n") == DIGEST
    assert normalize(key, DIGEST.upper()) == DIGEST
    assert classify(key, DIGEST) == HASHED


def test_a_digest_of_letters_only_is_detected_before_phone_stripping():
    letters_only = "abcdef" * 10 + "abcd"
    assert encode("PHONE", letters_only) == letters_only
    assert encode("PHONE", letters_only.upper(), default_country="US") == letters_only


def test_unhashed_keys_do_not_treat_64_hex_characters_as_a_digest():
    assert encode("EXTERN_ID", DIGEST.upper()) == DIGEST.upper()
    assert classify("EXTERN_ID", DIGEST) == VALID
    assert encode("MADID", DIGEST) is None


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n", "null", "NULL", "None", "n/a", "#N/A", float("nan")])
@pytest.mark.parametrize("key", SCHEMA_KEYS)
def test_missing_values(key, raw):
    assert classify(key, raw) == MISSING
    assert encode(key, raw) is None


JUNK = [
    True,
    False,
    [],
    ["a@b.co"],
    {"email": "a@b.co"},
    object(),
    "😀😀😀",
    "\x00\x01\x02",
    "x" * 10_000,
    "a\ud800b",
    b"\xff\xfe",
    10**5000,
    float("inf"),
    Decimal("Infinity"),
    Decimal("1E+999999"),
]


@pytest.mark.parametrize("raw", JUNK, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize("key", SCHEMA_KEYS)
def test_junk_is_unusable_and_never_raises(key, raw):
    if key == "EXTERN_ID" and raw == "😀😀😀":
        assert encode(key, raw) == raw  # an advertiser's id is sent as given
        return
    assert encode(key, raw) is None
    assert classify(key, raw) == INVALID


def test_bytes_are_read_as_utf8():
    assert encode("EMAIL", b"A@B.CO") == sha("a@b.co")


def test_a_date_object_is_junk_outside_birth_date_keys():
    assert encode("ZIP", date(1990, 5, 17)) is None


# --- Batch form ------------------------------------------------------------------------------


def test_encode_rows_uploads_schema_order_and_rejects_rows_without_an_identifying_key():
    result = encode_rows(
        ["EMAIL", "PHONE", "FN", "COUNTRY"],
        [
            [" A@B.co ", None, "Ann", "US"],
            [None, "(555) 123-4567", None, None],
            [None, None, "Bob", "US"],
            ["not-an-email", "", "Cy", "UK"],
        ],
        default_country="US",
    )
    assert result.rows == [
        [sha("a@b.co"), "", sha("ann"), sha("us")],
        ["", sha("15551234567"), "", ""],
    ]
    assert result.rejected == [(2, REJECT_NO_IDENTIFYING_KEY), (3, REJECT_NO_IDENTIFYING_KEY)]
    assert result.indices == [0, 1]
    assert result.total == 4


def test_encode_rows_rejects_malformed_rows_by_index():
    result = encode_rows(["EMAIL", "FN"], [["a@b.co", "x"], "a@b.co", ["a@b.co"], None, ("c@d.co", "y")])
    assert [row[0] for row in result.rows] == [sha("a@b.co"), sha("c@d.co")]
    assert result.rejected == [(1, REJECT_MALFORMED_ROW), (2, REJECT_MALFORMED_ROW), (3, REJECT_MALFORMED_ROW)]
    assert result.indices == [0, 4]


def test_encode_rows_accepts_any_iterable_and_nothing():
    assert encode_rows(["EMAIL"], iter([["a@b.co"]])).rows == [[sha("a@b.co")]]
    empty = encode_rows(["EMAIL"], [])
    assert (empty.rows, empty.rejected, empty.indices) == ([], [], [])


def test_a_schema_without_identifying_key_rejects_every_row():
    result = encode_rows(["FN", "LN"], [["Ann", "Lee"]])
    assert result.rows == []
    assert result.rejected == [(0, REJECT_NO_IDENTIFYING_KEY)]


def test_the_rows_own_country_is_the_default_for_its_phone_and_zip():
    result = encode_rows(
        ["PHONE", "COUNTRY", "ZIP"],
        [
            ["07700 900123", "United Kingdom", "M1 1AE"],
            ["(555) 123-4567", None, "372213312"],
            ["030 1234567", "Deutschland", "372213312"],
        ],
        default_country="US",
    )
    assert result.rows == [
        [sha("447700900123"), sha("gb"), sha("m11ae")],
        [sha("15551234567"), "", sha("37221")],
        [sha("49301234567"), sha("de"), sha("372213312")],
    ]


def test_a_day_that_does_not_exist_in_its_month_is_blanked():
    result = encode_rows(
        ["EMAIL", "DOBY", "DOBM", "DOBD"],
        [
            ["a@b.co", "1990", "Feb", "30"],
            ["a@b.co", "1991", "2", "29"],
            ["a@b.co", "1992", "2", "29"],
            ["a@b.co", None, "04", "31"],
            ["a@b.co", None, "12", "31"],
        ],
    )
    days = [row[3] for row in result.rows]
    assert days == ["", "", sha("29"), "", sha("31")]
    assert [row[2] for row in result.rows] == [sha("02"), sha("02"), sha("02"), sha("04"), sha("12")]


def test_encode_rows_email_fast_path_agrees_with_encode_on_mixed_chunks():
    values = [
        "plain@example.com",
        " Spaced@Example.com ",
        None,
        "",
        DIGEST.upper(),
        "john@gmail",
        "josé@exämple.com",
        "with space@example.com",
        "\ufeff Ann@Example.com",  # trims down to an address only past the invisible character
        "\u200b ann@example.com \u200b",
        "tab\t@example.com",
        "\x00@example.com",
        b"bytes@example.com",
        42,
        "x" * 300 + "@example.com",
        "K\u212a@example.com",  # Kelvin sign lowercases to ASCII "k"
        "a@b@c.com",
        "@example.com.",
        "null",
    ] * 70  # several internal chunks
    result = encode_rows(["EMAIL"], [[value] for value in values])
    expected = [encode("EMAIL", value) for value in values]
    assert result.rows == [[value] for value in expected if value]
    assert [index for index, _ in result.rejected] == [i for i, value in enumerate(expected) if not value]


# --- Properties ------------------------------------------------------------------------------

COUNTRIES = st.sampled_from([None, "US", "GB", "DE", "FR", "IT", "AU", "RU", "JP", "BR", "IN", "NO", "HU", "CI"])

any_value = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.text(alphabet="0123456789 +-().#xext", max_size=25),
    st.text(alphabet="abcdefABCDEF0123456789 ", min_size=60, max_size=70),
    st.emails(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.decimals(),
    st.binary(max_size=20),
    st.dates(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just("x" * 10_000),
    st.just("😀" * 3000),
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(key=st.sampled_from(SCHEMA_KEYS), raw=any_value, country=COUNTRIES)
def test_encode_never_raises_and_classify_agrees_with_it(key, raw, country):
    uploaded = encode(key, raw, default_country=country)
    status = classify(key, raw, default_country=country)
    assert (uploaded is None) == (status in (MISSING, INVALID))
    if uploaded is not None and key in HASHED_KEYS:
        assert len(uploaded) == 64
        assert uploaded == uploaded.lower()


@PROPERTY
@given(key=st.sampled_from(SCHEMA_KEYS), raw=any_value)
def test_normalize_is_idempotent_on_its_own_output(key, raw):
    first = normalize(key, raw)
    if first is not None:
        assert normalize(key, first) == first


@PROPERTY
@given(
    raw=st.one_of(st.text(alphabet="0123456789 +-().", max_size=25), st.integers(min_value=0)),
    country=st.sampled_from(sorted(set(tables.PHONE_REGIONS) & (tables.ISO_ALPHA2 | tables.EXTRA_ALPHA2))),
)
def test_a_phone_normalised_for_a_country_stays_the_same_when_normalised_again(raw, country):
    first = normalize("PHONE", raw, default_country=country)
    if first is not None:
        assert normalize("PHONE", first) == first  # carries its calling code: no country needed
        if first.startswith(tables.PHONE_REGIONS[country][0]):
            assert normalize("PHONE", first, default_country=country) == first


@PROPERTY
@given(
    digest=st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64),
    padding=st.sampled_from(["", " ", "\t", "\n", "  \r\n"]),
    key=st.sampled_from(sorted(HASHED_KEYS)),
)
def test_a_digest_passes_through_unchanged_but_lowercased(digest, padding, key):
    assert encode(key, padding + digest + padding) == digest.lower()


PADDING = st.sampled_from(["", " ", "\t", "\ufeff", "\ufeff ", "\u200b ", " \u200b", "\u00ad", "\u2060 ", "\xa0"])
padded_emails = st.builds(lambda before, email, after: before + email + after, PADDING, st.emails(), PADDING)


@PROPERTY
@given(values=st.lists(st.one_of(padded_emails, any_value), max_size=40))
def test_email_fast_path_agrees_with_encode_on_padded_and_odd_values(values):
    result = encode_rows(["EMAIL"], [[value] for value in values])
    expected = [encode("EMAIL", value) for value in values]
    assert result.rows == [[value] for value in expected if value]


ROW_SCHEMA = list(SCHEMA_KEYS)
row_values = st.one_of(
    any_value,
    st.sampled_from(["US", "United Kingdom", "de", "France", "Italia", "xx"]),
    st.sampled_from(["07700 900123", "(555) 123-4567", "06 1234 5678", "+49 30 1234567", "030 1234567"]),
    st.sampled_from(["Feb", "2", "29", "30", "31", "1992", "1991", "1990-02-28", "12345-6789", "372213312"]),
)


def _expected_row(row, default_country):
    """What encode_rows must produce, from encode() per field and the documented batch rules."""
    country = normalize("COUNTRY", row[ROW_SCHEMA.index("COUNTRY")])
    row_country = country.upper() if country and len(country) == 2 else default_country
    expected = []
    for key, raw in zip(ROW_SCHEMA, row, strict=True):
        field_country = row_country if key in ("PHONE", "ZIP") else default_country
        expected.append(encode(key, raw, default_country=field_country) or "")
    year, month, day = (normalize(key, row[ROW_SCHEMA.index(key)]) for key in ("DOBY", "DOBM", "DOBD"))
    if month and day and len(month) == 2 and len(day) == 2:
        leap = year is None or len(year) != 4 or calendar.isleap(int(year))
        last_day = {2: 29 if leap else 28, 4: 30, 6: 30, 9: 30, 11: 30}.get(int(month), 31)
        if int(day) > last_day:
            expected[ROW_SCHEMA.index("DOBD")] = ""
    return expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(row_values, min_size=len(ROW_SCHEMA), max_size=len(ROW_SCHEMA)), max_size=12),
    country=COUNTRIES,
)
def test_encode_rows_agrees_with_encode_field_by_field(rows, country):
    result = encode_rows(ROW_SCHEMA, rows, default_country=country)
    expected = [_expected_row(row, country) for row in rows]
    identifying = [ROW_SCHEMA.index(key) for key in IDENTIFYING_KEYS]
    accepted = [i for i, row in enumerate(expected) if any(row[j] for j in identifying)]
    assert result.indices == accepted
    assert result.rows == [expected[i] for i in accepted]
    assert result.rejected == [(i, REJECT_NO_IDENTIFYING_KEY) for i in range(len(rows)) if i not in accepted]


def test_every_value_is_capped_so_that_normalising_twice_changes_nothing():
    long_name = "İ" * MAX_VALUE_CHARS  # lowercases to twice as many characters
    assert normalize("FN", long_name) is None


def test_a_large_batch_does_not_thaw_objects_someone_else_froze():
    # Large batches move the collector's objects to its oldest generation (gc.freeze + unfreeze):
    # that must never unfreeze what a pre-fork server froze to keep its memory pages shared.
    def still_frozen(sentinel: object) -> bool:  # frozen objects are in none of generations 0-2
        return not any(tracked is sentinel for tracked in gc.get_objects())

    rows = [[f"person{index}@example.com"] for index in range(20_000)]
    sentinel = ["frozen by someone else"]
    gc.freeze()
    try:
        assert still_frozen(sentinel)
        result = encode_rows(["EMAIL"], rows)
        assert still_frozen(sentinel)
        assert gc.isenabled()
    finally:
        gc.unfreeze()
    assert len(result.rows) == 20_000
    assert not still_frozen(sentinel)
    encode_rows(["EMAIL"], rows)
    assert gc.get_freeze_count() == 0  # nothing left frozen by encode_rows itself


def test_encode_rows_leaves_the_garbage_collector_as_it_found_it():
    assert gc.isenabled()
    encode_rows(["EMAIL"], [["a@b.co"]])
    assert gc.isenabled()
    gc.disable()
    try:
        encode_rows(["EMAIL"], [["a@b.co"]])
        assert not gc.isenabled()
    finally:
        gc.enable()
