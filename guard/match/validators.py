"""Checksum validators: True confirms, False rejects, None has no opinion (Presidio style)."""
from __future__ import annotations

import datetime
import math
import re
import zlib
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


def phone(value: str) -> bool | None:
    """A mainland mobile number, however grouped: 11 digits, 1[3-9]."""
    v = compact(value)
    return len(v) == 11 and v.isdigit() and v[0] == "1" and v[1] in "3456789"


# -- Credential values --------------------------------------------------------------------------
# A value found where a secret goes (after `password=`, in a token's body) is a credential only if
# it could be one: not a placeholder, reference, hash or test key, and not made by hand (runs,
# repeats, one class of character at low entropy). Each check is a small predicate, tested alone.

_PLACEHOLDER = re.compile(
    r"^(\$\{|\$\(|\{\{|<|\[\[|\.\.\.|…)|^((?-i:\$[A-Z_][A-Z0-9_]*|\$[a-z_][a-z0-9_]*)|%\w+%|@\w+@)$"  # ${VAR} $(cmd) {{x}} <x> $X %X%
    r"|(?-i:x{4,}|X{4,})|\*{3,}|#{4,}|\.{3}|…|0{8,}"                           # xxxx, ****, ...
    r"|^(your|insert|enter|replace|paste)|^(my|the|some|put|fill|add|set)[-_ .]"  # your-token-here
    r"|[-_ .](here|goes[-_]?here)$"
    r"|change[-_.]?me|placeholder|example|redacted|foo[-_.]?bar"
    # Short words only as words: a random token body holds `tbd` or `fake` by chance.
    r"|(?<![a-z])(sample|dummy|fake|masked|hidden|todo|tbd|fixme|lorem)(?![a-z])"
    r"|^(null|none|nil|true|false|undefined|empty|string|str|int|required|optional|default|secret|password|token)$",
    re.IGNORECASE)
# Test and sandbox keys (sk_test_…, access-sandbox-…): made to be pasted into examples.
_TEST_KEY = re.compile(r"(^|[-_.])(test|sandbox|demo)([-_.]|$)", re.IGNORECASE)
# Password hashes and digests stored where a password goes are not the password.
_HASH = re.compile(r"^(\$(2[abxy]?|1|5|6|7|y|gy|argon2(id|i|d)?|scrypt|pbkdf2[-\w]*)\$|\{(S?SHA\d*|MD5|SMD5|CRYPT|PBKDF2[-\w]*)\}"
                   r"|(sha1|sha256|sha384|sha512|md5)[:-])", re.IGNORECASE)
# A reference to where the secret lives, not the secret: env lookups, calls, dotted attributes.
_REFERENCE = re.compile(r"[()\[\]]|^(os\.|process\.env|env\.|ENV\[|System\.getenv|getenv|secrets\.|vault:|ref\+)"
                        r"|^[A-Za-z_]+(\.[A-Za-z_]+)+$")
# Identifiers in code (user_input, userInput, CONFIG_VALUE): names of variables, not their values.
_IDENTIFIER = re.compile(r"^([a-z]+(_[a-z]+)+|[a-z]+([A-Z][a-z]+)+|[A-Z]+(_[A-Z]+)+|[a-z]{1,15}|[A-Z]{1,15}|[A-Z][a-z]{1,11})$")
# Words that name a secret rather than being one (db_password, GITHUB_TOKEN, secretKeyRef).
STOPWORDS = ("password", "passwd", "secret", "token", "apikey", "credential", "privatekey", "accesskey")
# Passwords everyone writes in tutorials: not worth a block when one is pasted.
_WELL_KNOWN = frozenset({"password", "passw0rd", "p@ssw0rd", "p@ssword", "admin123", "admin@123", "root123",
                         "123456", "12345678", "123456789", "qwerty", "qwerty123", "letmein", "welcome1",
                         "abc123", "iloveyou", "monkey", "dragon", "test123", "password1", "password123",
                         "changeit", "secret123", "tiger", "oracle", "postgres", "mysql", "guest"})
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "!@#$%^&*()")


def entropy(value: str) -> float:
    """Shannon entropy of the value's characters, bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value))


def is_test_key(value: str) -> bool:
    return bool(_TEST_KEY.search(value))


def is_hash(value: str) -> bool:
    return bool(_HASH.search(value))


def is_reference(value: str) -> bool:
    return bool(_REFERENCE.search(value)) or bool(_IDENTIFIER.match(value))


def has_stopword(value: str) -> bool:
    folded = value.lower().replace("_", "").replace("-", "").replace(".", "")
    return any(w in folded for w in STOPWORDS)


def _sequential_share(value: str) -> float:
    """Share of the value covered by runs of 4+ consecutive characters (abcd, 4321, qwer)."""
    low = value.lower()
    covered = [False] * len(low)
    i = 0
    while i < len(low) - 1:
        j = i
        step = ord(low[i + 1]) - ord(low[i])
        while j + 1 < len(low) and step in (1, -1) and ord(low[j + 1]) - ord(low[j]) == step:
            j += 1
        if j - i + 1 >= 4:
            covered[i:j + 1] = [True] * (j - i + 1)
        i = max(j, i + 1)
    for row in _KEYBOARD:
        for k in range(len(row) - 3):
            chunk = row[k:k + 4]
            start = low.find(chunk)
            while start >= 0:
                covered[start:start + 4] = [True] * 4
                start = low.find(chunk, start + 1)
    return sum(covered) / len(low) if low else 0.0


def _repeats(value: str) -> bool:
    """The value is a short unit said again and again (abcabcabc, 12341234, aaaa)."""
    n = len(value)
    for k in range(1, n // 2 + 1):
        if value == (value[:k] * (n // k + 1))[:n]:
            return True
    return False


def is_low_entropy(value: str) -> bool:
    """Typed by a person to fill a field, not generated: few distinct characters, a repeated unit,
    mostly runs (123456, abcdef, qwerty), or one class of character at low entropy."""
    n = len(value)
    if n == 0 or len(set(value)) < 4 or _repeats(value) or _sequential_share(value) >= 0.5:
        return True
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                   any(c.isdigit() for c in value), any(not c.isalnum() for c in value)))
    h = entropy(value)
    if classes == 1:  # all lower, all upper, all digits: a word or a number unless long and varied
        return n < 16 and not (value.isdigit() and n >= 10) or h < 3.0
    return h < min(2.9, 0.75 * math.log2(n))  # a three-word passphrase sits near 3.0


def secret(value: str) -> bool | None:
    """A value where a password, key or token goes: a credential unless it is a placeholder,
    a reference, a hash, a test key, a well-known tutorial password or typed at low entropy."""
    quoted = value.strip("'\"`“”「」")
    if is_placeholder(quoted):  # sk-proj-... before the dots go
        return False
    v = quoted.rstrip(".,;:?")  # a sentence's full stop is not part of it
    if len(v) < 6 or (len(v) < 8 and not (any(c.isdigit() for c in v) and any(not c.isalnum() for c in v))):
        return False
    if v.lower().lstrip("-=:") in _WELL_KNOWN or is_placeholder(v) or is_hash(v) or is_test_key(v):
        return False
    if has_stopword(v) or is_reference(v) or is_jwt_part(v):
        return False
    return not is_low_entropy(v)


def is_jwt_part(value: str) -> bool:
    """A JWT header or payload without its signature (eyJ… base64 JSON): claims, not a secret. A
    whole token (three parts) is a credential; its parts alone are what decoded copies leave."""
    return value.startswith("eyJ") and value.strip(".").count(".") < 2


def token(value: str) -> bool | None:
    """A provider token by its prefix: its random body must look random (documentation shows
    ghp_xxxx…, sk-1234567890abcdef…, or a test key)."""
    body = _TOKEN_PREFIX.sub("", value, count=1)
    if is_placeholder(value) or is_test_key(value) or len(body) < 8:
        return False
    return not is_low_entropy(body)


_TOKEN_PREFIX = re.compile(r"^[A-Za-z]{1,12}\d{0,2}[-_.](?:[A-Za-z]{2,8}\d{0,2}[-_.])?")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def crc32_tail(value: str) -> bool | None:
    """GitHub (ghp_/gho_/ghu_/ghs_/ghr_) and npm (npm_) tokens: 30 random base62 characters, then
    the CRC32 of those 30 as 6 base62 digits. A token whose tail does not check was written by
    hand (a documentation sample, a fabricated example): not a credential by its shape alone."""
    prefix, _, rest = value.partition("_")
    if len(rest) != 36 or not rest.isalnum():
        return False
    body, tail = rest[:30], rest[30:]
    return _base62(zlib.crc32(body.encode("ascii")), 6) == tail and not is_low_entropy(body)


VALIDATORS = {"cn_id": cn_id, "luhn": luhn, "uscc": uscc, "secret": secret, "phone": phone,
              "token": token, "crc32_tail": crc32_tail}
