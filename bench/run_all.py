"""Every benchmark, one after the other: what `make bench` runs (figures in docs/performance.md).

    python bench/run_all.py [--quick] [--postgres] [--profile]

1. `bench/sync_million.py`: a million-member cohort synced end to end against the sandboxes
   (first sync, 1% and 10% changed, 200 ms added latency at one and four lanes), on SQLite;
   with --postgres, the same again with the worker on PostgreSQL (127.0.0.1:5432, needs a
   server); with --profile, py-spy profiles of the sandbox and every run (PY_SPY or the PATH).
2. `bench/match_keys.py`: match-key encoding speed (the facebook-business SDK comparison
   needs the benchmark venv of bench/requirements.txt; without it that part is skipped).

--quick runs both on 100,000 members/rows (a smoke test of the scripts, not the figures).
The figures of every run are also written as JSON under the bench's work directory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORKDIR = Path(tempfile.gettempdir()) / "cohortsync-bench"


def run(command: list[str]) -> int:
    print(f"\n$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=BENCH.parent)
    print(f"(exit {code}, {time.monotonic() - started:.0f} s)", flush=True)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 members/rows: checks the scripts run")
    parser.add_argument("--postgres", action="store_true", help="also run the sync benchmark on PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of the sync benchmark")
    args = parser.parse_args()
    members = ["--members", "100000"] if args.quick else []
    sync = [sys.executable, str(BENCH / "sync_million.py"), *members]
    if args.profile:
        sync += ["--profile", "py-spy"]
    failures = 0
    failures += run([*sync, "--json", str(WORKDIR / "sync-sqlite.json")]) != 0
    if args.postgres:
        failures += run([*sync, "--database", "postgres", "--json", str(WORKDIR / "sync-postgres.json")]) != 0
    rows = ["--rows", "100000", "--repeat", "1"] if args.quick else []
    failures += run([sys.executable, str(BENCH / "match_keys.py"), *rows]) != 0
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
