"""Settings for the test suite: the development defaults plus what tests need.

DATABASE_URL and REDIS_URL still come from the environment, so CI runs the same
suite on PostgreSQL with the Redis broker.
"""

import os
import socket


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Tests that talk HTTP to the sandbox use pytest-django's live_server; allauth reads its
# Graph URLs at import time, so the live server's port is chosen here, before Django starts.
# A free port per test process lets several suites run on one machine at once.
_port = int(os.environ.get("TEST_LIVE_SERVER_PORT") or _free_port())
os.environ["DJANGO_LIVE_TEST_SERVER_ADDRESS"] = f"127.0.0.1:{_port}"
os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{_port}")
os.environ["ENV_FILE"] = ""
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SANDBOX", "1")
os.environ.setdefault("Q_SYNC", "1")
for _name in ("FACEBOOK_GRAPH_URL", "FACEBOOK_WWW_URL", "AMPLITUDE_API_URL", "FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET"):
    # A developer's exported real-service settings must never leak into tests.
    os.environ.pop(_name, None)

from config.settings import *  # noqa: E402,F403

LIVE_SERVER_PORT = _port
# The sandbox's Facebook population (what uploaded rows can match): small in tests, so a
# fresh machine does not build the 1,000,000-person index the benchmarks use.
SANDBOX_POPULATION_SIZE = 50_000
# The cohort member memo (a per-machine cache of encoded members) in a directory of this
# test process, so test runs never share or leave behind each other's memo files.
import tempfile as _tempfile  # noqa: E402

COHORT_MEMBER_CACHE_DIR = _tempfile.mkdtemp(prefix="cohortsync-test-memo-")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A file, not SQLite's default in-memory test database: tests that serve the sandbox
# over real HTTP (live_server) and upload from several threads need each thread to have
# its own connection with real locking. One file per test process.
# No persistent connections in tests: the live server's request threads would otherwise
# keep PostgreSQL sessions open, and the test database could not be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import tempfile

    _test_db = os.path.join(tempfile.gettempdir(), f"cohortsync-test-{os.getpid()}.db")
    DATABASES["default"]["TEST"] = {"NAME": _test_db}  # noqa: F405
