"""Password hashing for console accounts: salted scrypt (memory-hard).

Stored form: ``scrypt$N$r$p$salt_hex$hash_hex``. Verification is constant
time; an unknown user is checked against a dummy hash so timing does not say
whether a name exists.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2 ** 14, 8, 1, 32
MIN_LENGTH = 8
MAX_LENGTH = 256


class PasswordError(ValueError):
    """A password that may not be used (message in Chinese)."""


def check_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise PasswordError(f"密码至少 {MIN_LENGTH} 个字符")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"密码不能超过 {MAX_LENGTH} 个字符")
    if password.strip() != password or not password.strip():
        raise PasswordError("密码首尾不能是空白字符")


def hash_password(password: str) -> str:
    check_policy(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


_DUMMY = None


def verify_password(password: str, stored: str | None) -> bool:
    global _DUMMY
    if stored is None:
        if _DUMMY is None:
            _DUMMY = hash_password("dummy-password-for-timing")
        stored, real = _DUMMY, False
    else:
        real = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        if n > 2 ** 20 or r > 32 or p > 16:
            return False
        got = hashlib.scrypt(password.encode("utf-8")[:4 * MAX_LENGTH], salt=bytes.fromhex(salt),
                             n=n, r=r, p=p, dklen=len(bytes.fromhex(digest)), maxmem=2 ** 27)
    except (ValueError, TypeError):
        return False
    return real and hmac.compare_digest(got.hex(), digest)
