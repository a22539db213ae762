"""Checksum validators: True confirms, False rejects, None has no opinion (Presidio style)."""
from __future__ import annotations

import datetime
import math
from collections import Counter

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id(value: str) -> bool | None:
    """Resident identity card number, GB 11643-1999: region, birth date, mod 11-2 check."""
    v = value.upper()
    if len(v) != 18 or not v[:17].isdigit() or v[0] not in "123456789":
        return False
    try:
        born = datetime.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= datetime.date.today().year):
        return False
    total = sum(int(d) * w for d, w in zip(v[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == v[17]


def luhn(value: str) -> bool | None:
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(value: str) -> bool | None:
    """Unified social credit code, GB 32100-2015: 18 chars, mod 31 check character."""
    v = value.upper()
    if len(v) != 18 or any(c not in _USCC_CHARS for c in v):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(v[:17], _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31] == v[17]


def secret(value: str) -> bool | None:
    """A credential value, not an identifier or expression: has a digit, varied characters."""
    if not any(c.isdigit() for c in value) or len(set(value)) < 6:
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 2.8


VALIDATORS = {"cn_id": cn_id, "luhn": luhn, "uscc": uscc, "secret": secret}
