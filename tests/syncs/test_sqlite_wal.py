"""WAL checkpoints off the run's writing thread (syncs.sqlite_wal), on a file-backed SQLite database."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper

from syncs.sqlite_wal import checkpoints_in_background

pytestmark = pytest.mark.django_db

ROW = "x" * 3000  # a page and a bit of log per row


@pytest.fixture
def wal_database(tmp_path):
    """A Django connection to a SQLite file in WAL mode, as the embedded default runs."""
    settings = {
        **connection.settings_dict,
        "NAME": str(tmp_path / "worker.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        "TEST": {},
    }
    database = DatabaseWrapper(settings, alias="wal_test")
    with database.cursor() as cursor:
        cursor.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, row TEXT)")
    yield database
    database.close()


def _write(database, transactions: int, rows: int) -> None:
    for _ in range(transactions):
        with database.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.executemany("INSERT INTO ledger (row) VALUES (%s)", [(ROW,)] * rows)
            cursor.execute("COMMIT")


def _autocheckpoint(database) -> int:
    with database.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return cursor.fetchone()[0]


def test_the_writer_leaves_checkpoints_to_a_thread_of_its_own(wal_database):
    path = wal_database.settings_dict["NAME"]
    with checkpoints_in_background(wal_database) as checkpointer:
        assert checkpointer is not None and checkpointer.is_alive()
        assert _autocheckpoint(wal_database) == 0  # the writer's commits no longer copy the log
        _write(wal_database, transactions=6, rows=1000)  # about 6,000 pages: several thresholds' worth
        deadline = time.monotonic() + 10
        # The thread copies the log into the database file (which starts at two pages).
        while (os.path.getsize(path) < 4_000_000 or not checkpointer.checkpoints) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.getsize(path) > 4_000_000
        assert checkpointer.checkpoints >= 1
    assert not checkpointer.is_alive()
    assert _autocheckpoint(wal_database) == 1000  # SQLite's default is back for the connection
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM ledger").fetchone()[0] == 6000


def test_nothing_is_done_for_a_database_without_a_log_file():
    in_memory = DatabaseWrapper({**connection.settings_dict, "NAME": ":memory:", "OPTIONS": {}, "TEST": {}},
                                alias="in_memory")
    try:
        with checkpoints_in_background(in_memory) as checkpointer:
            assert checkpointer is None
            assert "sqlite-wal-checkpoints" not in {thread.name for thread in threading.enumerate()}
    finally:
        in_memory.close()


def test_a_connection_whose_automatic_checkpoints_are_off_is_left_alone(wal_database):
    with wal_database.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    with checkpoints_in_background(wal_database) as checkpointer:
        assert checkpointer is None
    assert _autocheckpoint(wal_database) == 0
