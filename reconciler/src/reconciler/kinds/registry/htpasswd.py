"""The registry's htpasswd file: bcrypt only, because distribution ignores every other hash.

Why deterministic: the file's content goes into the registry container's desired-state hash,
so rendering it twice from the same passwords must give the same bytes, or every deploy would
recreate the registry. A fresh random salt per render would do exactly that. The salt is
therefore derived from the user name and the password (HMAC-SHA256, keyed by the password):
it is still unique per user and per password and unknowable without the password, and a
changed password changes the line, the hash and so recreates the registry (which loads the
file only at start). Pure: no I/O; the caller mounts the returned text as a file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import bcrypt

__all__ = ["BCRYPT_COST", "render_htpasswd", "verify_htpasswd_line"]

# The registry checks the hash on every authenticated request (a push is dozens of them):
# cost 10 keeps that around 50 ms while staying well above `htpasswd -B`'s default of 5.
BCRYPT_COST = 10
_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _salt(username: str, password: str) -> bytes:
    seed = hmac.new(password.encode(), b"registry-htpasswd\0" + username.encode(), hashlib.sha256)
    encoded = (
        base64.b64encode(seed.digest()[:16]).rstrip(b"=").translate(bytes.maketrans(_STD, _BCRYPT))
    )
    return b"$2b$%02d$" % BCRYPT_COST + encoded


def render_htpasswd(users: Mapping[str, str]) -> str:
    """`user:bcrypt-hash` lines for `{user: password}`, sorted by user name."""
    lines = []
    for username in sorted(users):
        if ":" in username or not username:
            raise ValueError(f"invalid htpasswd user name {username!r}")
        password = users[username]
        if not password:
            raise ValueError(f"user {username!r} has an empty password")
        hashed = bcrypt.hashpw(password.encode(), _salt(username, password))
        lines.append(f"{username}:{hashed.decode()}")
    return "".join(f"{line}\n" for line in lines)


def verify_htpasswd_line(line: str, username: str, password: str) -> bool:
    """True when an htpasswd line is `username` with a bcrypt hash of `password`."""
    name, _, hashed = line.strip().partition(":")
    return name == username and bcrypt.checkpw(password.encode(), hashed.encode())
