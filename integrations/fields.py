"""A text field encrypted at rest with Fernet keys from TOKEN_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated: put the new key
first, keep the old ones until `manage.py rotate_encryption_keys` has re-encrypted
every value, then drop them. A value that no configured key can decrypt raises
`DecryptionError`: it is never returned as if the ciphertext were the plaintext.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Every stored value starts with this, so a raw column is recognisably ciphertext
# and a plaintext value that slipped in by another path is detected, not decrypted.
PREFIX = "fernet:"


class DecryptionError(Exception):
    """No configured key decrypts the stored value (wrong or missing key)."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


def current_fernet() -> MultiFernet:
    # Read per call (cached per key list) so tests and rotation see the settings of now.
    return _fernet_for(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt_text(plaintext: str) -> str:
    return PREFIX + current_fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_text(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("The stored value is not encrypted by this application.")
    try:
        return current_fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise DecryptionError(
            "No key in TOKEN_ENCRYPTION_KEYS decrypts this value; was a key removed too early?"
        ) from None


def reencrypt_text(stored: str) -> str:
    """Re-encrypt with the first (current) key; used when rotating keys."""
    if not stored.startswith(PREFIX):
        raise DecryptionError("The stored value is not encrypted by this application.")
    try:
        return PREFIX + current_fernet().rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")
    except InvalidToken:
        raise DecryptionError("No key in TOKEN_ENCRYPTION_KEYS decrypts this value.") from None


class EncryptedTextField(models.TextField):
    """Stores `fernet:<token>`; Python code sees the plaintext; "" stays "" (unset)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)

    def formfield(self, **kwargs):
        from django import forms

        # Secrets are write-only in forms: never rendered back into a page.
        kwargs.setdefault("widget", forms.PasswordInput(render_value=False))
        return super().formfield(**kwargs)


def encrypted_values_rotate() -> int:
    """Re-encrypt every EncryptedTextField value with the current (first) key.

    Works on the raw columns (the ORM would decrypt on read and encrypt on write), in
    one transaction per column; returns how many values were rewritten.
    """
    from django.apps import apps
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    rewritten = 0
    for model in apps.get_models():
        table = quote(model._meta.db_table)
        pk_column = quote(model._meta.pk.column)
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            column = quote(field.column)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk_column}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                for pk, stored in cursor.fetchall():
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s",  # noqa: S608
                        [reencrypt_text(stored), pk],
                    )
                    rewritten += 1
    return rewritten
