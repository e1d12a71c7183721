"""Generating and checking secrets: API keys and account passwords.

API keys are 256-bit random tokens, so a single SHA-256 is a sound way to store
them (no dictionary to attack) and cheap enough for the ingest hot path.
Passwords are low-entropy, so they get scrypt with a per-password salt.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

API_KEY_PREFIX = "lk_"
DISPLAY_PREFIX_LENGTH = 10

# scrypt cost: n=2**14, r=8 takes ~50 ms and 16 MiB here, OWASP's minimum.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key that may be shown in lists, enough to tell keys apart."""
    return key[:DISPLAY_PREFIX_LENGTH]


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    # The parameters travel with the hash, so a login check (next: the dashboards) can verify it.
    encode = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def generate_password() -> str:
    return secrets.token_urlsafe(12)
