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
