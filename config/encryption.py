"""Secrets kept in the database, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

FIELD_ENCRYPTION_KEYS lists the keys: the first encrypts, every one decrypts (cryptography's
MultiFernet), so a new key goes first, `manage.py rotate_encryption_keys` re-encrypts every
stored secret with it, and the old key is then removed. A database dump without the keys reads
as `gAAAAA…` tokens only.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    """The keys in force (read at each use, so `override_settings` holds in tests)."""
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set: a secret can be neither stored nor read."
        )
    try:
        return _fernet(keys)
    except ValueError as error:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS has a key that is not one: {error}"
        ) from error


def key_problems(keys) -> list[str]:
    """One sentence per key that is not a Fernet key (32 url-safe base64-encoded bytes)."""
    problems = []
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            problems.append(
                f"FIELD_ENCRYPTION_KEYS key {number} is not a Fernet key (32 url-safe "
                "base64-encoded bytes)."
            )
    return problems


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key of FIELD_ENCRYPTION_KEYS (a key "
            "was removed before `manage.py rotate_encryption_keys` ran?)."
        ) from None


def reencrypt(token: str) -> str:
    """The same secret encrypted with the first key (MultiFernet.rotate)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        return encrypt(decrypt(token))  # raises the same clear error


class EncryptedTextField(models.TextField):
    """A text secret stored as a Fernet token and read back in clear. The empty string stays
    empty (no secret), so `field=""` still finds the rows without one; nothing else can be
    looked up by value, since each encryption of one secret differs."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted fields, and their names."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        names = [
            f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
        ]
        if names:
            found.append((model, names))
    return found


def secrets_reencrypt() -> dict[str, int]:
    """Encrypts every stored secret again with the first key; returns how many per field.

    Each row is rewritten in its own conditional UPDATE on the token it was read with, so a
    secret changed meanwhile (a rotation by a manager) is left as its writer stored it."""
    from django.db import connection

    counts = {}
    for model, names in encrypted_fields():
        table = connection.ops.quote_name(model._meta.db_table)
        for name in names:
            column = connection.ops.quote_name(name)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                rows = cursor.fetchall()
            done = 0
            for pk, token in rows:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE id = %s AND {column} = %s",  # noqa: S608
                        [reencrypt(token), pk, token],
                    )
                    done += cursor.rowcount
            counts[f"{model._meta.label}.{name}"] = done
    return counts


def secret_stored() -> bool:
    """Whether any secret is stored (False when the tables are not there yet, or the database
    cannot be reached: starting is then judged on the other settings alone)."""
    from django.db import DatabaseError, connection

    opened_here = connection.connection is None
    try:
        for model, names in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            where = " OR ".join(f"{connection.ops.quote_name(n)} <> ''" for n in names)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1")  # noqa: S608
                if cursor.fetchone():
                    return True
    except DatabaseError:
        return False
    finally:
        if opened_here:
            connection.close()  # a web server may fork after this: no connection to share
    return False
