"""Block hashing of match keys: the optional C module, its Python fallback, and the build script."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from integrations.facebook import hex_digests

ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = ROOT / "scripts" / "build_native.py"

# Lengths around SHA-256's padding and block boundaries (55/56, 63/64, 119/120 bytes), empty included.
LENGTHS = [0, 1, 2, 31, 32, 54, 55, 56, 57, 63, 64, 65, 118, 119, 120, 128, 255, 1000]

native = pytest.mark.skipif(not hex_digests.NATIVE, reason="the native SHA-256 module is not built")


def _pieces_and_marks(seed: int) -> tuple[list[bytes], list[bytes]]:
    rng = random.Random(seed)
    pieces = [bytes(rng.randrange(256) for _ in range(length)) for length in LENGTHS * 3]
    pieces += ["josé@exämple.fr".encode(), b"someone@example.com", b"\x00\n\xff"]
    marks = [rng.choice([b"@", b""]) for _ in pieces]
    marks[0] = b"@"  # the empty value, marked: hashed like any other
    return pieces, marks


def _hashlib_digests(pieces: list[bytes], marks: list[bytes]) -> list[str]:
    return [hashlib.sha256(piece).hexdigest() if mark else "" for piece, mark in zip(pieces, marks, strict=True)]


IMPLEMENTATIONS = [
    pytest.param(hex_digests.python_digests, hex_digests.python_digest_rows, id="python"),
    pytest.param(hex_digests.digests, hex_digests.digest_rows, id="native", marks=native),
]


@pytest.mark.parametrize(("digests", "digest_rows"), IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_digests_equal_hashlib_across_block_boundaries(digests, digest_rows, seed):
    pieces, marks = _pieces_and_marks(seed)
    expected = _hashlib_digests(pieces, marks)

    assert digests(pieces, marks) == expected
    assert digest_rows(pieces, marks) == [[digest] for digest, mark in zip(expected, marks, strict=True) if mark]


@pytest.mark.parametrize(("digests", "digest_rows"), IMPLEMENTATIONS)
def test_empty_and_unmarked_blocks(digests, digest_rows):
    assert digests([], []) == []
    assert digest_rows([], []) == []
    assert digests([b"a", b"b"], [b"", b""]) == ["", ""]
    assert digest_rows([b"a", b"b"], [b"", b""]) == []


@native
def test_native_digests_are_independent_strings_of_lowercase_hex():
    [[first], [second]] = hex_digests.digest_rows([b"a", b"a"], [b"@", b"@"])

    assert first == second == hashlib.sha256(b"a").hexdigest()
    assert first is not second  # each row owns its value; nothing shared that could be mutated
    assert first.isascii() and first == first.lower() and len(first) == 64


@native
@pytest.mark.parametrize(
    ("pieces", "marks", "error"),
    [
        (["text@example.com"], [b"@"], TypeError),  # str, not bytes
        ([b"a@b.co"], ["@"], TypeError),
        ((b"a@b.co",), [b"@"], TypeError),  # a tuple, not a list
        ([b"a@b.co", b"c@d.co"], [b"@"], ValueError),
        ([bytearray(b"a@b.co")], [b"@"], TypeError),
    ],
)
def test_native_functions_refuse_what_they_cannot_hash(pieces, marks, error):
    with pytest.raises(error):
        hex_digests.digests(pieces, marks)
    with pytest.raises(error):
        hex_digests.digest_rows(pieces, marks)


@native
def test_native_functions_check_their_argument_count():
    with pytest.raises(TypeError):
        hex_digests.digests([b"a"])  # type: ignore[call-arg]


def test_without_the_native_module_the_python_loops_are_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "integrations.facebook._sha256_hex", None)  # import fails
    try:
        reloaded = importlib.reload(hex_digests)
        assert reloaded.NATIVE is False
        assert reloaded.digest_rows is reloaded.python_digest_rows
        assert reloaded.digests([b"a"], [b"@"]) == [hashlib.sha256(b"a").hexdigest()]
    finally:
        monkeypatch.undo()
        importlib.reload(hex_digests)


def _compiler_available() -> bool:
    link = (sysconfig.get_config_var("LDSHARED") or "").split()
    return bool(link) and shutil.which(link[0]) is not None and Path("/usr/include/openssl/sha.h").exists()


@pytest.mark.skipif(not _compiler_available(), reason="no C compiler or OpenSSL headers here")
def test_build_script_builds_a_module_that_hashes_like_hashlib(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--output-dir", str(tmp_path), "--require"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    [built] = tmp_path.glob("_sha256_hex*")
    assert built.name.endswith(sysconfig.get_config_var("EXT_SUFFIX"))
    check = (
        "import sys, hashlib; sys.path.insert(0, sys.argv[1]); import _sha256_hex; "
        "print(_sha256_hex.digests([b'abc'], [b'@'])[0] == hashlib.sha256(b'abc').hexdigest())"
    )
    imported = subprocess.run([sys.executable, "-c", check, str(tmp_path)], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "True"


def _load_build_script():
    spec = importlib.util.spec_from_file_location("build_native", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failed_build_says_so_leaves_nothing_and_does_not_fail_the_install(tmp_path, monkeypatch, capsys):
    build_native = _load_build_script()
    broken = tmp_path / "_sha256_hex.c"
    broken.write_text("this is not C\n")
    monkeypatch.setattr(build_native, "SOURCE", broken)
    output = tmp_path / "out"
    output.mkdir()

    monkeypatch.setattr(sys, "argv", ["build_native.py", "--output-dir", str(output)])
    assert build_native.main() == 0
    assert "native SHA-256 not built" in capsys.readouterr().out
    assert list(output.iterdir()) == []

    monkeypatch.setattr(sys, "argv", ["build_native.py", "--output-dir", str(output), "--require"])
    assert build_native.main() == 1
