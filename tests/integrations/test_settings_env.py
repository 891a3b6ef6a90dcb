"""Configuration comes from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, redis_from_url

BASE_DIR = Path(__file__).resolve().parents[2]


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import config.settings in a fresh interpreter with exactly `env` (plus PATH)."""
    clean = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(BASE_DIR), "ENV_FILE": "", **env}
    code = "import config.settings as s; print(s.DEBUG, s.SANDBOX, 'redis' in s.Q_CLUSTER)"
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, cwd="/", capture_output=True, text=True, timeout=60
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "sync.example.com",
    "TOKEN_ENCRYPTION_KEYS": "kX8nRZbJ2wq0m4E7d1Q2Yq3pV6sT9uW0aB5cD8eF1gI=",
    "FACEBOOK_APP_ID": "123",
    "FACEBOOK_APP_SECRET": "s3cret",
}


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "ALLOWED_HOSTS", "TOKEN_ENCRYPTION_KEYS", "FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET"]
)
def test_production_without_a_secret_stops_and_names_it(missing, tmp_path):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = load_settings(env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_production_with_everything_starts_without_the_sandbox():
    result = load_settings(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]


def test_development_needs_nothing_and_uses_the_embedded_defaults():
    result = load_settings({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "False"]


def test_redis_url_switches_the_task_broker_to_redis():
    result = load_settings({"DEBUG": "1", "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert result.stdout.split()[2] == "True"
    assert redis_from_url("redis://:pw@cache:6380/3") == {
        "host": "cache", "port": 6380, "db": 3, "password": "pw", "ssl": False,
    }


def test_database_url_forms(tmp_path):
    sqlite = database_from_url("", base_dir=tmp_path)
    assert sqlite["NAME"] == str(tmp_path / "db.sqlite3")
    assert database_from_url("sqlite:///other.db", base_dir=tmp_path)["NAME"] == str(tmp_path / "other.db")
    assert database_from_url("sqlite:////abs/x.db", base_dir=tmp_path)["NAME"] == "/abs/x.db"
    pg = database_from_url("postgres://u:p%40ss@db.internal:5433/sync", base_dir=tmp_path)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql", "sync", "u", "p@ss", "db.internal", "5433",
    )
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        database_from_url("mysql://x/y", base_dir=tmp_path)


def test_task_queue_is_configured_against_duplicate_execution():
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"], "a task running past `retry` would be handed out again"
    assert q["ack_failures"] is True
    assert 1 <= q["max_attempts"] <= 5
