"""Build the optional C accelerator of match-key hashing (integrations/facebook/_sha256_hex.c).

    python scripts/build_native.py [--output-dir DIR] [--require]

`make install` runs it. It needs a C compiler, Python's headers and OpenSSL's (Debian: gcc,
libssl-dev). Without them it says so and exits 0: match keys then hash in Python, with the same
output, more slowly (docs/performance.md). `--require` makes a failed build exit 1 instead.

The module is compiled with the flags this Python was built with, checked against hashlib in a fresh
interpreter, and only then moved into place (atomically, so a running worker never loads half a file).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "integrations" / "facebook" / "_sha256_hex.c"
MODULE = "_sha256_hex"
BUILD_TIMEOUT_S = 120

# Run in a fresh, isolated interpreter on the scratch directory: the built module must agree with hashlib on
# both functions, across SHA-256's block boundaries (55/56 and 63/64 bytes).
CHECK = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import _sha256_hex
pieces = [bytes(range(n % 256)) * (1 + n // 256) for n in range(0, 300)] + ["é@x.fr".encode()]
marks = [b"@" if n % 3 else b"" for n in range(len(pieces))]
expected = [hashlib.sha256(p).hexdigest() if m else "" for p, m in zip(pieces, marks)]
assert _sha256_hex.digests(pieces, marks) == expected
assert _sha256_hex.digest_rows(pieces, marks) == [[e] for e in expected if e]
"""


class BuildFailed(Exception):
    pass


def compile_command(source: Path, target: Path) -> list[str]:
    """The compile-and-link command of an extension module, with this Python's own compiler flags."""
    link = sysconfig.get_config_var("LDSHARED")
    if not link:
        raise BuildFailed("this Python does not say how to link extension modules (no LDSHARED)")
    return [
        *shlex.split(link),
        *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
        "-O2",
        "-Wall",
        "-Wno-deprecated-declarations",  # SHA256_Init and friends: see the comment in the source
        f"-I{sysconfig.get_paths()['include']}",
        str(source),
        "-o",
        str(target),
        "-lcrypto",
    ]


def run(command: list[str]) -> None:
    try:
        # This Python's own compiler and interpreter, on our source file.
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildFailed(str(error)) from error
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BuildFailed(lines[-1] if lines else f"exit status {result.returncode}")


def build(output_dir: Path) -> Path:
    """Compile, check and install the module into `output_dir`; return its path."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = output_dir / f"{MODULE}{suffix}"
    with tempfile.TemporaryDirectory(prefix="build-native-") as scratch:
        built = Path(scratch) / target.name
        run(compile_command(SOURCE, built))
        run([sys.executable, "-I", "-c", CHECK, scratch])
        staged = output_dir / f".{target.name}.new"
        shutil.copyfile(built, staged)
        os.replace(staged, target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=SOURCE.parent)
    parser.add_argument("--require", action="store_true", help="exit 1 when the module cannot be built")
    args = parser.parse_args()
    try:
        target = build(args.output_dir)
    except BuildFailed as error:
        print(f"native SHA-256 not built ({error}); match keys hash in Python: same output, slower.")
        return 1 if args.require else 0
    print(f"native SHA-256 built: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
