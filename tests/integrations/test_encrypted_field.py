"""Secrets are encrypted at rest, fail loudly with a wrong key, and survive key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection as db

from integrations.fields import DecryptionError
from integrations.models import FacebookConnection, Project

pytestmark = pytest.mark.django_db


def raw_column(table: str, column: str, pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_round_trip_and_the_raw_column_holds_no_plaintext(project):
    conn = FacebookConnection.objects.create(project=project, access_token="EAAB-very-secret")
    stored = raw_column("integrations_facebookconnection", "access_token", conn.pk)
    assert stored.startswith("fernet:")
    assert "EAAB-very-secret" not in stored
    assert FacebookConnection.objects.get(pk=conn.pk).access_token == "EAAB-very-secret"


def test_empty_secret_stays_empty(project):
    assert raw_column("integrations_project", "amplitude_api_key", project.pk) == ""
    assert Project.objects.get(pk=project.pk).amplitude_api_key == ""


def test_a_wrong_key_raises_instead_of_returning_ciphertext(project, settings):
    conn = FacebookConnection.objects.create(project=project, access_token="EAAB-very-secret")
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        FacebookConnection.objects.get(pk=conn.pk)


def test_key_rotation_new_key_first_old_key_still_decrypts(project, settings):
    old_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [old_key]
    conn = FacebookConnection.objects.create(project=project, access_token="EAAB-rotate-me")

    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]
    assert FacebookConnection.objects.get(pk=conn.pk).access_token == "EAAB-rotate-me"

    from django.core.management import call_command

    call_command("rotate_encryption_keys")
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]  # the old key is gone: values were re-encrypted
    assert FacebookConnection.objects.get(pk=conn.pk).access_token == "EAAB-rotate-me"


def test_a_plaintext_value_written_behind_our_back_is_refused(project):
    conn = FacebookConnection.objects.create(project=project)
    with db.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_facebookconnection SET access_token = %s WHERE id = %s", ["EAAB-plain", conn.pk]
        )
    with pytest.raises(DecryptionError):
        FacebookConnection.objects.get(pk=conn.pk)
