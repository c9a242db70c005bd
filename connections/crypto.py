"""Encryption at rest for API client secrets: Fernet with a list of keys (MultiFernet).

``settings.FERNET_KEYS`` is newest first. A secret is encrypted with the first key and
decrypts with any key of the list, so a key is rotated without downtime: put a new key
first, deploy, run ``manage.py rotate_secrets`` (every secret re-encrypted with it), then
drop the old key from the list.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with any of the keys."""


@cache
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    """All the keys, and the newest alone."""
    fernets = [Fernet(key.encode()) for key in keys]
    return MultiFernet(fernets), fernets[0]


def _keys() -> tuple[str, ...]:
    return tuple(settings.FERNET_KEYS)


def encrypt(plaintext: str) -> str:
    return _fernets(_keys())[0].encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernets(_keys())[0].decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The stored API client secret cannot be decrypted.") from None


def uses_newest_key(ciphertext: str) -> bool:
    try:
        _fernets(_keys())[1].decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """The same secret, encrypted with the newest key. Raises SecretUnreadable."""
    try:
        return _fernets(_keys())[0].rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The stored API client secret cannot be decrypted.") from None
