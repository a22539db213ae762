"""Console accounts: a JSON file of name -> role and scrypt hash (memory-hard)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from guard.errors import GuardError

ROLES = ("auditor", "officer")  # 三员分立: auditors see everything; officers not others' acknowledgement reasons
_N, _R, _P = 2 ** 14, 8, 1


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32)


def load(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GuardError(f"{p}: cannot read the users file: {e}") from None
    if not isinstance(data, dict):
        raise GuardError(f"{p}: not a users file")
    return data


def save(path: str | Path, users: dict) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")  # never the users file itself (with_suffix would be, for x.tmp)
    # A fresh file, never a leftover: an old users.tmp would keep its wider mode through O_TRUNC,
    # and a planted symlink would take the hashes elsewhere.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(users, f, ensure_ascii=False, indent=1)
    os.replace(tmp, p)


def add(path: str | Path, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise GuardError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    if not name or any(c in name for c in ":/\\ \t\n"):
        raise GuardError(f"{name!r} is not a user name")
    if len(password) < 10:
        raise GuardError("the password needs 10 characters or more")
    users = load(path)
    salt = secrets.token_bytes(16)
    users[name] = {"role": role, "salt": base64.b64encode(salt).decode(),
                   "scrypt": base64.b64encode(_hash(password, salt)).decode(), "n": _N, "r": _R, "p": _P}
    save(path, users)


def remove(path: str | Path, name: str) -> bool:
    users = load(path)
    if name not in users:
        return False
    del users[name]
    save(path, users)
    return True


def check(users: dict, name: str, password: str) -> str | None:
    """The user's role when the password is right, else None (in constant time per user)."""
    u = users.get(name)
    salt = base64.b64decode(u["salt"]) if u else b"\0" * 16
    got = _hash(password, salt)  # the same work for unknown names: no user enumeration by timing
    if u is None:
        return None
    return u["role"] if hmac.compare_digest(got, base64.b64decode(u["scrypt"])) else None
