"""Lowercase hex SHA-256 digests for match keys: one value, or many in one call.

`digest_rows` and `digests` hash a block of byte strings at once. They come from the optional C
module `_sha256_hex` (built by `make install` when a C compiler and OpenSSL's headers are there:
scripts/build_native.py) and otherwise from the same loops in Python. Both give the same output,
which tests check; the C module takes about half the time at a million values (docs/performance.md).
"""

from __future__ import annotations

from itertools import compress

try:
    # CPython's own SHA-256, the implementation hashlib itself falls back to. For values of a
    # few dozen bytes it is cheaper than OpenSSL's through hashlib, which allocates and frees two
    # digest contexts per value: 350 against 410 ns a value measured on a 2-core Xeon
    # (docs/performance.md). The digests are the same (tests compare with hashlib's).
    from _sha256 import sha256
except ImportError:  # Python 3.12 renamed it _sha2; a build may leave it out
    try:
        from _sha2 import sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]


def python_digest_rows(pieces: list[bytes], marks: list[bytes]) -> list[list[str]]:
    """One-value rows of the digests of the pieces whose mark is not empty."""
    hash_of = sha256
    return [[hash_of(piece).hexdigest()] for piece in compress(pieces, marks)]


def python_digests(pieces: list[bytes], marks: list[bytes]) -> list[str]:
    """The digest of each piece whose mark is not empty, "" for the others."""
    hash_of = sha256
    return [hash_of(piece).hexdigest() if mark else "" for piece, mark in zip(pieces, marks, strict=True)]


try:
    from integrations.facebook._sha256_hex import digest_rows, digests
except ImportError:  # not built: no compiler or no OpenSSL headers where it was installed
    NATIVE = False
    digest_rows = python_digest_rows
    digests = python_digests
else:
    NATIVE = True
