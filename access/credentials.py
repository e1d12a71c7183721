"""Generating API keys and first-run passwords.

API keys are 256-bit random tokens, so a single SHA-256 is a sound way to store
them (no dictionary to attack) and cheap enough for the ingest hot path.
Passwords are low-entropy: access/passwords.py hashes them with argon2id.
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "lk_"
DISPLAY_PREFIX_LENGTH = 10


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key that may be shown in lists, enough to tell keys apart."""
    return key[:DISPLAY_PREFIX_LENGTH]


def generate_password() -> str:
    return secrets.token_urlsafe(12)
