"""Checksum validators, against vectors computed here from the standards' definitions
(not from the implementation's tables). Every invalid case breaks exactly one rule, so
removing any one check from a validator fails a case."""
import pytest

from guard.match.validators import cn_id, compact, luhn, phone, secret, uscc


def id_check(first17: str) -> str:
    """GB 11643-1999: weight of position i (counted from the right, the check digit being 1)
    is 2^(i-1) mod 11; the check value is (12 - sum mod 11) mod 11, 10 written X."""
    total = sum(int(d) * pow(2, 17 - k, 11) for k, d in enumerate(first17))
    c = (12 - total % 11) % 11
    return "X" if c == 10 else str(c)


def with_id_check(first17: str) -> str:
    return first17 + id_check(first17)


def luhn_complete(payload: str) -> str:
    """Append the digit that makes the Luhn sum a multiple of 10 (computed by trying each)."""
    for d in "0123456789":
        digits = payload + d
        doubled = "".join(str(int(c) * (2 if i % 2 else 1)) for i, c in enumerate(reversed(digits)))
        if sum(int(c) for c in doubled) % 10 == 0:
            return digits
    raise AssertionError


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def with_uscc_check(first17: str) -> str:
    """GB 32100-2015: weight of position i (1-based, left to right) is 3^(i-1) mod 31."""
    total = sum(USCC_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return first17 + USCC_CHARS[(31 - total % 31) % 31]


VALID_ID = with_id_check("11010519880312123")


@pytest.mark.parametrize("value, expected", [
    (VALID_ID, True),
    (with_id_check("32010219900606005"), True),
    (with_id_check("44030620010229004"), False),   # 2001-02-29 does not exist (check digit correct)
    (with_id_check("11010519881312123"), False),   # month 13 (check digit correct)
    (with_id_check("11010519880332123"), False),   # day 32 (check digit correct)
    (with_id_check("99010519880312123"), False),   # no province 99 (check digit correct)
    (with_id_check("01010519880312123"), False),   # no province 01 (check digit correct)
    (with_id_check("11010518500312123"), False),   # born 1850 (check digit correct)
    (VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1"), None),  # only the check digit wrong: no opinion
    (VALID_ID[:6] + " " + VALID_ID[6:14] + " " + VALID_ID[14:], True),  # grouped as typed
])
def test_cn_id(value, expected):
    assert cn_id(value) is expected


def test_cn_id_check_digit_x():
    # Find a valid number whose check value is 10 (written X) without using the implementation.
    first = next(f"1101051988031212{n}" for n in range(10) if id_check(f"1101051988031212{n}") == "X")
    assert cn_id(first + "X") is True and cn_id(first + "x") is True and cn_id(first + "0") is None


CARD = luhn_complete("622202100112345678")


@pytest.mark.parametrize("value, ok", [
    (CARD, True),
    (CARD[:-1] + str((int(CARD[-1]) + 1) % 10), False),  # check digit off by one
    (luhn_complete("41111111111111"[:10]), False),       # Luhn-valid but 11 digits: too short for a card
    ("6222 0210 0112 3456 78" + CARD[-1], True),           # grouped as printed
])
def test_luhn(value, ok):
    assert luhn(value) is ok


USCC = with_uscc_check("91350100M000100Y4")


@pytest.mark.parametrize("value, ok", [
    (USCC, True),
    (USCC[:-1] + next(c for c in USCC_CHARS if c != USCC[-1]), False),  # wrong check character
    (USCC[:-1], False),                                                 # 17 characters
    ("91350100M000100I4" + USCC[-1], False),                            # I is not in the alphabet
])
def test_uscc(value, ok):
    assert uscc(value) is ok


@pytest.mark.parametrize("value, ok", [("13732040070", True), ("137-3204-0070", True), ("137 3204 0070", True),
                                       ("12732040070", False), ("1373204007", False)])
def test_phone(value, ok):
    assert phone(value) is ok


def test_compact_only_removes_group_separators():
    assert compact("110105 19880312 1236") == "110105198803121236"
    assert compact("137-3204-0070") == "13732040070"


@pytest.mark.parametrize("value, ok", [("9s8DkqJ2mV+u1XbT0cW3", True), ("response.json", False), ("aaaaaaa1", False)])
def test_secret(value, ok):
    assert secret(value) is ok


# -- Credential values (guard/match/validators.py: secret, token, crc32_tail) --------------------
import math  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402

from guard.match.validators import crc32_tail, entropy, has_stopword, is_low_entropy, token  # noqa: E402


def shannon(v: str) -> float:
    n = len(v)
    return -sum(c / n * math.log2(c / n) for c in Counter(v).values())


@pytest.mark.parametrize("value", ["aaaa", "abcd", "aab1aab2aab3", "9s8DkqJ2mV+u1XbT0cW3", "口令口令"])
def test_entropy_is_shannon_bits_per_character(value):
    assert entropy(value) == pytest.approx(shannon(value))
    assert entropy("") == 0.0


def test_entropy_check_rejects_what_nothing_else_does():
    """`aab1aab2aab3` has a digit, four distinct characters, no run, no repeated unit, no stop word,
    no placeholder: only its entropy (1.9 bits) marks it typed. Removing the check lets it through."""
    low, control = "aab1aab2aab3", "k8d2m5q9x3z7"
    assert shannon(low) < 2.0 < 3.0 < shannon(control)
    assert is_low_entropy(low) and not is_low_entropy(control)
    assert secret(low) is False and secret(control) is True


def test_stopword_check_rejects_what_nothing_else_does():
    """`Xq8_password_9Lm2` looks generated (mixed classes, high entropy) but names a secret rather
    than being one; the same value with the word misspelt passes. Removing the check lets it through."""
    named, control = "Xq8_password_9Lm2", "Xq8_pazzword_9Lm2"
    assert not is_low_entropy(named) and has_stopword(named) and not has_stopword(control)
    assert secret(named) is False and secret(control) is True
    assert has_stopword("secretKeyRef") and has_stopword("GITHUB_TOKEN") and has_stopword("api-key-v2")


@pytest.mark.parametrize("value", ["123456789012", "abcdefghijkl", "qwertyuiop12", "zyxwvutsrq98", "abcabcabcabc", "Ab1Ab1Ab1Ab1", "aaaaaaaa1bcd"])
def test_runs_repeats_and_few_characters_are_low_entropy(value):
    assert is_low_entropy(value) and secret(value) is False


@pytest.mark.parametrize("value", ["your-token-here", "<YOUR_API_KEY>", "${DB_PASSWORD}", "{{ .Values.pw }}", "%DB_PASS%", "$DB_PASS",
                                   "changeme", "xxxxxxxxxxxx", "****************", "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                                   "access-sandbox-5c1a8f2e", "$2b$12$KIXQJ8Zx1yq9Vd3Lk0aPOe", "{SSHA}Zx8Kq2Lm9w", "os.environ['PW']",
                                   "settings.SECRET_KEY", "user_input", "userInput", "CONFIG_VALUE", "P@ssw0rd", "admin123"])
def test_placeholders_references_hashes_test_keys_and_tutorial_passwords_are_not_secrets(value):
    assert secret(value) is False


@pytest.mark.parametrize("value", ["PmeMjvqPVStNKi", "correct-horse-battery-staple", "PurpleElephantDances", "UtBrmg@O6grn",
                                   "168160adb59261ff2d3c425c8d99d19b", "ce10cd79-e048-c07d-d775-3eda83d7c58d", "839201746512"])
def test_passphrases_hex_and_uuids_where_a_secret_goes_are_secrets(value):
    assert secret(value) is True


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def github_style(prefix: str, body: str) -> str:
    """The published format: 30 base62 characters, then their CRC32 as 6 base62 digits."""
    n, tail = zlib.crc32(body.encode()), ""
    while n:
        n, r = divmod(n, 62)
        tail = B62[r] + tail
    return f"{prefix}_{body}{tail.rjust(6, '0')}"


@pytest.mark.parametrize("prefix", ["ghp", "gho", "ghu", "ghs", "ghr", "npm"])
def test_crc32_tail(prefix):
    good = github_style(prefix, "rb2P9rNofny9gMPjcnYJt7V0Fs2xol")
    assert crc32_tail(good) is True
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")  # one tail character off
    assert crc32_tail(wrong) is False
    assert crc32_tail(github_style(prefix, "abcdefghijklmnopqrstuvwxyz0123")) is False  # checks, but typed by hand
    assert crc32_tail("ghp_16C7e42F292c6912E7710c838347Ae178B4a") is False  # GitHub's documentation sample


@pytest.mark.parametrize("value, ok", [("hvs.moLglYd2MupWhHR9a1YuOYXp", True), ("hvs.xxxxxxxxxxxxxxxxxxxxxxxx", False),
                                       ("sk-1234567890abcdef1234567890abcdef", False), ("sk_test_51HxQ2bKf9Zp3LmN7vR4tY8wE2q", False),
                                       ("dp.st.prd.lKFqQ9MHeAW1bJdPl45adHCbBdbsrfLNPyeNY539Xgt", True), ("SEC" + "0" * 64, False)])
def test_token_body_must_look_generated(value, ok):
    assert token(value) is ok
