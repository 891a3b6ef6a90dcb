"""SQLite (the embedded default): WAL checkpoints off the run's writing thread.

In WAL mode, a commit that finds the log longer than `wal_autocheckpoint` pages (1,000,
about 4 MB, by default) copies the log into the database file before it returns. A sync
run writes about 3 MB per 10,000-row batch (ledger rows and their indexes), so every
other commit of its sending loop paid for a checkpoint: 15-30 ms instead of 3, on the
one thread every upload lane waits for. SQLite's documentation names the remedy
(https://sqlite.org/wal.html, "Automatic Checkpoint"): turn automatic checkpoints off for
the writer and run them in a separate thread. Ours uses its own connection and PASSIVE
checkpoints, which never wait for a lock and never block the writer, and the sqlite3
module releases the GIL while one runs, so the copying happens on the other core.

PostgreSQL and in-memory SQLite databases have no WAL file to manage: nothing is done.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError
from django.db import connection as default_connection

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# The log is copied every 50 ms of writing, so a checkpoint takes milliseconds; should one hang
# (a stalled disk), the run still ends after this long and the daemon thread is left behind.
STOP_TIMEOUT_SECONDS = 30


class _Checkpointer(threading.Thread):
    """Checkpoints `path` while its log is written to, once it has reached `threshold_bytes`."""

    def __init__(self, path: str, threshold_bytes: int) -> None:
        super().__init__(name="sqlite-wal-checkpoints", daemon=True)
        self.path = path
        self.threshold_bytes = threshold_bytes
        self.checkpoints = 0
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(STOP_TIMEOUT_SECONDS)

    def _log_file(self) -> tuple[int, int]:
        """(size, modification time) of the log file; (0, 0) while there is none."""
        try:
            stat = os.stat(f"{self.path}-wal")
        except OSError:
            return 0, 0
        return stat.st_size, stat.st_mtime_ns

    def run(self) -> None:
        try:
            database = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        except sqlite3.Error:
            logger.warning("No background WAL checkpoints for %s: cannot open it.", self.path, exc_info=True)
            return
        # SQLite reuses the log file from its start once it is fully copied, without shrinking
        # it: past the threshold once, the size says nothing more, so a checkpoint runs when
        # the file was written since the last one (at most every POLL_SECONDS; on a file system
        # with coarse modification times, at most once per tick).
        checkpointed_at = None
        try:
            while not self._stopping.wait(POLL_SECONDS):
                size, written_at = self._log_file()
                if size < self.threshold_bytes or written_at == checkpointed_at:
                    continue
                try:
                    database.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:  # another connection is checkpointing: next time
                    continue
                checkpointed_at = written_at
                self.checkpoints += 1
        except sqlite3.Error:  # the writer's own commits checkpoint again once the run ends
            logger.warning("Background WAL checkpoints of %s stopped.", self.path, exc_info=True)
        finally:
            database.close()


def _wal_file_path(connection) -> str | None:
    """The database file when `connection` is SQLite in WAL mode on a file, else None."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            return None
        cursor.execute("PRAGMA database_list")
        path = next((file for _, name, file in cursor.fetchall() if name == "main"), "")
    return path or None


@contextmanager
def checkpoints_in_background(connection=default_connection) -> Iterator[_Checkpointer | None]:
    """Within the block, `connection`'s commits leave checkpoints to a thread of their own.

    Yields the checkpointer (None when there is nothing to do). Afterwards the
    connection's own threshold is restored, and its next commits checkpoint as before.
    """
    path = _wal_file_path(connection)
    if path is None:
        yield None
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        pages = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA page_size")
        page_size = int(cursor.fetchone()[0])
        if pages <= 0:  # automatic checkpoints are already off: someone else runs them
            yield None
            return
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    checkpointer = _Checkpointer(path, threshold_bytes=pages * page_size)
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.stop()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        except DatabaseError:  # a broken connection is replaced, and a new one has the default
            logger.warning("Could not restore wal_autocheckpoint on %s.", path, exc_info=True)
