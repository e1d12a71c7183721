"""Account passwords: argon2id with its parameters inside the hash, and the older scrypt hashes.

A stored hash names its own algorithm and cost, so raising the cost in the
settings (or meeting a scrypt hash from before argon2id) re-hashes a password
at its owner's next successful login, the only time the plaintext is known.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from access.errors import AccessError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; the bound only stops a megabyte "password" from costing a hash
_PARALLELISM = 4


class WeakPassword(AccessError):
    pass


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None = None  # set when the password is right and its stored hash is below today's cost


def hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=_PARALLELISM, type=Type.ID)


def check_policy(password: str) -> str:
    """The password if it is acceptable; WeakPassword naming the rule otherwise."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("the password cannot be only spaces")
    return password


def hash_password(password: str, ph: PasswordHasher) -> str:
    return ph.hash(password)


def verify(stored: str, password: str, ph: PasswordHasher) -> Verified:
    if stored.startswith("scrypt$"):
        return Verified(True, ph.hash(password)) if _verify_scrypt(stored, password) else Verified(False)
    try:
        ph.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return Verified(False)
    return Verified(True, ph.hash(password) if ph.check_needs_rehash(stored) else None)


def algorithm(stored: str) -> str:
    """The algorithm and cost of a stored hash, for the audit trail (never the hash itself)."""
    parts = stored.split("$")
    if stored.startswith("$argon2") and len(parts) == 6:
        return f"{parts[1]} {parts[3]}"
    if parts[0] == "scrypt" and len(parts) == 6:
        return f"scrypt n={parts[1]},r={parts[2]},p={parts[3]}"
    return "unknown"


def _verify_scrypt(stored: str, password: str) -> bool:
    """Hashes written by access/credentials.py before argon2id: scrypt$n$r$p$salt$digest (base64)."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
