"""A deterministic synthetic population shared by the Amplitude and Facebook sandboxes.

Person `i` is the same everywhere and always: the Amplitude sandbox exports people
(with the messiness of real analytics data), the Facebook sandbox knows the subset of
them who have a Facebook account (about 70%), so uploaded rows match at a realistic
rate. Everything derives from a keyed hash of the index: no state, no storage, and
about a microsecond per person.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

POPULATION_SEED = b"cohort-sync-sandbox-v1"
FACEBOOK_SHARE = 0.70  # share of people who have a Facebook account

FIRST_NAMES = [
    ("Emma", "f"), ("Olivia", "f"), ("Sophia", "f"), ("Zoë", "f"), ("Chloé", "f"),
    ("Léa", "f"),
    ("María", "f"), ("Anna", "f"), ("Hannah", "f"), ("Amélie", "f"), ("Siobhán", "f"), ("Mia", "f"),
    ("Grace", "f"), ("Lucía", "f"), ("Ava", "f"), ("Ingrid", "f"), ("Noah", "m"), ("Liam", "m"),
    ("James", "m"), ("José", "m"), ("Lukas", "m"), ("Jürgen", "m"), ("François", "m"), ("Oliver", "m"),
    ("Mateo", "m"), ("Ethan", "m"), ("Björn", "m"), ("Łukasz", "m"), ("Thomas", "m"), ("Hugo", "m"),
    ("Jack", "m"), ("Samuel", "m"),
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Martínez",
    "Müller", "Schmidt", "Schneider", "Dubois", "Lefèvre", "Moreau", "O'Brien", "Murphy", "Taylor",
    "Wilson", "Evans", "Thomas", "Roberts", "Nguyen", "Kim", "Novák", "Kowalski", "Andersson",
    "Van der Berg", "Smith-Jones", "Fernández", "Rossi", "Valéry",
]
EMAIL_DOMAINS = [
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de", "orange.fr",
]

# country -> (calling code, national number length, share in %, cities with state and zip makers)
COUNTRIES = {
    "US": ("1", 10, 60),
    "GB": ("44", 10, 15),
    "FR": ("33", 9, 10),
    "DE": ("49", 10, 10),
    "CA": ("1", 10, 5),
}
COUNTRY_NAMES = {
    "US": ["US", "us", "USA", "United States", "united states", "U.S.A."],
    "GB": ["GB", "gb", "United Kingdom", "UK"],
    "FR": ["FR", "fr", "France", "france"],
    "DE": ["DE", "de", "Germany", "GERMANY"],
    "CA": ["CA", "ca", "Canada"],
}
CITIES = {
    "US": [("New York", "NY", "New York"), ("San Francisco", "CA", "California"), ("Austin", "TX", "Texas"),
           ("Seattle", "WA", "Washington"), ("Chicago", "IL", "Illinois"), ("Boston", "MA", "Massachusetts")],
    "GB": [("London", "", ""), ("Manchester", "", ""), ("Edinburgh", "", "")],
    "FR": [("Paris", "", ""), ("Lyon", "", ""), ("Saint-Étienne", "", "")],
    "DE": [("Berlin", "", ""), ("München", "", ""), ("Köln", "", "")],
    "CA": [("Toronto", "ON", "Ontario"), ("Montréal", "QC", "Quebec"), ("Vancouver", "BC", "British Columbia")],
}
_COUNTRY_TABLE = [code for code, (_, _, share) in COUNTRIES.items() for _ in range(share)]  # 100 slots


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


# Email local parts use the names without accents, spaces or apostrophes.
_EMAIL_NAME = {
    name: _ascii(name).lower().replace(" ", "").replace("'", "")
    for name in [first for first, _ in FIRST_NAMES] + LAST_NAMES
}


@dataclass(frozen=True, slots=True)
class Person:
    """A person's true (clean) attributes."""

    index: int
    amplitude_id: int
    user_id: str
    device_id: str  # an IDFA (upper case) or an AAID (lower case)
    email: str  # lower case, as the person's Facebook account knows it
    phone: str  # digits with the country calling code, no "+"
    first_name: str
    last_name: str
    gender: str  # "m" or "f"
    birth_date: date
    city: str
    state_code: str  # US/CA two-letter code, "" elsewhere
    state_name: str
    zip: str
    country: str  # ISO alpha-2
    on_facebook: bool


def _digest(index: int) -> bytes:
    return hashlib.blake2b(index.to_bytes(8, "big"), key=POPULATION_SEED, digest_size=32).digest()


def person(index: int) -> Person:
    if index < 0:
        raise ValueError("Population indexes start at 0.")
    d = _digest(index)
    country = _COUNTRY_TABLE[d[0] % 100]
    calling_code, national_length, _ = COUNTRIES[country]
    first_name, gender = FIRST_NAMES[d[1] % len(FIRST_NAMES)]
    last_name = LAST_NAMES[d[2] % len(LAST_NAMES)]
    city, state_code, state_name = CITIES[country][d[3] % len(CITIES[country])]
    national = str(int.from_bytes(d[4:12], "big"))[-(national_length - 1) :].rjust(national_length - 1, "0")
    national = str(2 + d[12] % 7) + national  # never a leading 0 or 1 inside the national number
    local_part = f"{_EMAIL_NAME[first_name]}.{_EMAIL_NAME[last_name]}{index}"
    email = f"{local_part}@{EMAIL_DOMAINS[d[13] % len(EMAIL_DOMAINS)]}"
    birth = date(1950 + d[14] % 55, 1 + d[15] % 12, 1 + d[16] % 28)
    device_hex = hashlib.blake2b(d, digest_size=16).hexdigest()
    device = f"{device_hex[0:8]}-{device_hex[8:12]}-4{device_hex[13:16]}-a{device_hex[17:20]}-{device_hex[20:32]}"
    device = device.upper() if d[18] % 2 else device
    return Person(
        index=index,
        amplitude_id=100_000_000_000 + index,
        user_id=f"user-{index:08d}",
        device_id=device,
        email=email,
        phone=calling_code + national,
        first_name=first_name,
        last_name=last_name,
        gender=gender,
        birth_date=birth,
        city=city,
        state_code=state_code,
        state_name=state_name,
        zip=_zip_for(country, d),
        country=country,
        on_facebook=d[19] < int(256 * FACEBOOK_SHARE),
    )


def _zip_for(country: str, d: bytes) -> str:
    number = int.from_bytes(d[20:24], "big")
    if country == "US":
        return f"{10000 + number % 89999:05d}"
    if country == "GB":
        letters = "ABCDEFGHJKLMNPRSTUWXYZ"
        outward = f"{letters[d[20] % 22]}{letters[d[21] % 22]}{1 + d[22] % 20}"
        return f"{outward} {d[23] % 10}{letters[d[24] % 22]}{letters[d[25] % 22]}"
    if country == "CA":
        letters = "ABCEGHJKLMNPRSTVXY"
        return f"{letters[d[20] % 18]}{d[21] % 10}{letters[d[22] % 18]} {d[23] % 10}{letters[d[24] % 18]}{d[25] % 10}"
    return f"{10000 + number % 89999:05d}"


def amplitude_properties(p: Person) -> dict[str, str]:
    """How the person looks in an analytics tool: the same facts, entered messily.

    Mixed case, stray spaces, national phone formats, names of countries and states,
    ZIP+4, missing values, some already-hashed emails and a few unusable values.
    The share of each is fixed by the person's hash, so a test can count them.
    """
    d = _digest(p.index)
    roll = d[26]  # 0..255 decides the email's shape
    if roll < 8:  # ~3%: no email
        email = ""
    elif roll < 13:  # ~2%: already hashed by an upstream tool
        email = hashlib.sha256(p.email.encode()).hexdigest()
    elif roll < 16:  # ~1%: junk
        email = "n/a"
    elif roll < 80:
        email = f"  {p.email.title()} "
    else:
        email = p.email if roll % 2 else p.email.upper()

    calling_code = COUNTRIES[p.country][0]
    national = p.phone[len(calling_code) :]
    shape = d[27] % 10
    if shape == 0:  # 10%: no phone
        phone = ""
    elif shape < 4:
        phone = f"+{calling_code} {national[:3]} {national[3:6]} {national[6:]}"
    elif shape < 7:  # national format, as typed in the person's own country
        if calling_code == "1":
            phone = f"({national[:3]}) {national[3:6]}-{national[6:]}"
        else:  # a trunk 0, as in 07700 900123
            phone = f"0{national}"
    else:
        phone = f"00{calling_code}{national}" if shape == 7 else p.phone

    first = p.first_name if d[28] % 3 else f" {p.first_name.upper()}"
    last = p.last_name if d[28] % 5 else p.last_name.lower()
    country = COUNTRY_NAMES[p.country][d[29] % len(COUNTRY_NAMES[p.country])]
    state = (p.state_code if d[30] % 2 else p.state_name) if p.state_code else ""
    zip_code = p.zip
    if p.country == "US" and d[30] % 4 == 0:
        zip_code = f"{p.zip}-{1000 + d[31] % 9000}"
    gender_words = {"m": ["m", "M", "male", "Male", ""], "f": ["f", "F", "female", "Female", ""]}[p.gender]
    return {
        "email": email,
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "city": p.city if d[31] % 2 else p.city.upper(),
        "state": state,
        "zip": zip_code,
        "country": country,
        "gender": gender_words[d[25] % len(gender_words)],
        "birth_date": p.birth_date.isoformat(),
        "device_id": p.device_id,
    }


@lru_cache(maxsize=4)
def facebook_match_digests(size: int) -> frozenset[str]:
    """SHA-256 digests of the emails and phones of the Facebook people among the first `size`.

    The Facebook sandbox counts an uploaded row as matched when one of its hashed
    EMAIL or PHONE values is in this set, as Meta matches a row to a person.
    """
    digests: set[str] = set()
    sha = hashlib.sha256
    for index in range(size):
        p = person(index)
        if p.on_facebook:
            digests.add(sha(p.email.encode()).hexdigest())
            digests.add(sha(p.phone.encode()).hexdigest())
    return frozenset(digests)
