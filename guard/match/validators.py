"""Checksum validators: True confirms, False rejects, None has no opinion (Presidio style)."""
from __future__ import annotations

import datetime
import math
from collections import Counter

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Province-level codes of GB/T 2260 (the first two digits of the region code).
_ID_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                           50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91})
_ID_CHECK = "10X98765432"


def compact(value: str) -> str:
    """A number as written in groups (110105 19880315 0012, 137-3204-0070) as one value."""
    return value.replace(" ", "").replace("-", "") if (" " in value or "-" in value) else value


def cn_id(value: str) -> bool | None:
    """Resident identity card number, GB 11643-1999: region, birth date, mod 11-2 check.

    False when the region or birth date is impossible; None (no opinion) when only the check
    digit is wrong: such numbers count in bulk, not alone."""
    v = compact(value).upper()
    if len(v) != 18 or not v[:17].isdigit() or int(v[:2]) not in _ID_PROVINCES:
        return False
    try:
        born = datetime.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= datetime.date.today().year):
        return False
    total = sum(int(d) * w for d, w in zip(v[:17], _ID_WEIGHTS))
    return True if _ID_CHECK[total % 11] == v[17] else None


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
    v = compact(value).upper()
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


def phone(value: str) -> bool | None:
    """A mainland mobile number, however grouped: 11 digits, 1[3-9]."""
    v = compact(value)
    return len(v) == 11 and v.isdigit() and v[0] == "1" and v[1] in "3456789"


VALIDATORS = {"cn_id": cn_id, "luhn": luhn, "uscc": uscc, "secret": secret, "phone": phone}
