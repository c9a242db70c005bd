"""Encryption at rest for API client secrets (Fernet, key from settings.FERNET_KEY)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with the current key."""


@cache
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(plaintext: str) -> str:
    return _fernet(settings.FERNET_KEY).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet(settings.FERNET_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The stored API client secret cannot be decrypted.") from None
