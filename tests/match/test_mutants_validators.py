"""The value validators' rules at their edges (guard/match/validators.py), generated: the birth
years an ID number may carry, the shortest card number, the check character that wraps to 0,
every one-digit typo, the lengths and characters a password needs, the made-by-hand measures
(runs, repeated units, one class of character, entropy bounds) and what makes a JWT, a prefixed
token or a GitHub/npm token a credential. Expected values come from definitions stated here (a
brute-force run and period finder, Shannon entropy, the standards' check sums in
test_validators.py), never from the implementation."""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import math
import random
import string
import zlib
from collections import Counter

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from test_validators import id_check, luhn_complete, with_uscc_check

from guard.match import validators as v
from guard.match.validators import (STOPWORDS, cn_id, crc32_tail, has_stopword, is_jwt_part, is_low_entropy,
                                    luhn, secret, token, uscc)

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)
TODAY = datetime.date.today()

# Letters with no neighbours in the alphabet, even digits, symbols off the keyboard's number row:
# no run (abcd), no keyboard walk (qwer), no vowel (so no word such as `fake` or `todo`) can form
# from them, so a value drawn from them is judged only by the rule under test.
SPARSE_UPPER = "BFHKMPRWZ"
SPARSE_LOWER = SPARSE_UPPER.lower()
SPARSE_DIGITS = "2468"
SYMBOLS = "#+=~/|"


def shannon(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


# -- Resident identity card numbers -----------------------------------------------------------------

def id_number(born: datetime.date) -> str:
    first17 = "110105" + born.strftime("%Y%m%d") + "123"
    return first17 + id_check(first17)


@SETTINGS
@example(datetime.date(1900, 1, 1))
@example(TODAY.replace(month=1, day=1))
@given(st.dates(datetime.date(1900, 1, 1), TODAY))
def test_an_id_number_of_anyone_born_from_1900_to_this_year_checks(born):
    assert cn_id(id_number(born)) is True


@SETTINGS
@example(datetime.date(1899, 12, 31))
@example(datetime.date(TODAY.year + 1, 1, 1))
@given(st.one_of(st.dates(datetime.date(1800, 1, 1), datetime.date(1899, 12, 31)),
                 st.dates(datetime.date(TODAY.year + 1, 1, 1), datetime.date(2999, 12, 31))))
def test_an_id_number_born_before_1900_or_after_this_year_is_rejected(born):
    assert cn_id(id_number(born)) is False


@SETTINGS
@given(st.dates(datetime.date(1900, 1, 1), TODAY), st.integers(1, 17) | st.integers(19, 30))
def test_an_id_number_of_any_length_but_18_is_rejected(born, length):
    full = id_number(born)
    value = (full * 2)[:length]  # cut short, or run on into more digits
    assert cn_id(value) is False


# -- Bank cards (Luhn), unified social credit codes -------------------------------------------------

@SETTINGS
@given(st.text("0123456789", min_size=11, max_size=18))
def test_luhn_accepts_every_completed_number_of_12_to_19_digits_and_no_one_digit_typo(payload):
    number = luhn_complete(payload)
    assert luhn(number) is True
    for i, c in enumerate(number):
        for d in "0123456789":
            if d != c:  # the Luhn sum catches every single wrong digit
                assert luhn(number[:i] + d + number[i + 1:]) is False, (number, i, d)


@SETTINGS
@given(st.text("0123456789", max_size=10))
def test_luhn_rejects_numbers_under_12_digits_even_when_they_check(payload):
    assert luhn(luhn_complete(payload)) is False


@SETTINGS
@example("0" * 17)  # a weighted sum divisible by 31: the check value wraps round to `0`
@given(st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17))
def test_uscc_exactly_one_check_character_completes_any_17(first17):
    good = with_uscc_check(first17)
    assert uscc(good) is True
    for c in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if c != good[17]:
            assert uscc(first17 + c) is False


# -- Names of secrets -------------------------------------------------------------------------------

@SETTINGS
@given(st.sampled_from(STOPWORDS), st.data())
def test_a_secret_s_name_is_a_name_however_its_words_are_joined(word, data):
    seps = data.draw(st.lists(st.sampled_from(["", "_", "-", "."]), min_size=len(word) - 1, max_size=len(word) - 1))
    joined = word[0] + "".join(s + c for s, c in zip(seps, word[1:]))
    case = data.draw(st.sampled_from([str.lower, str.upper, str.title]))
    around = data.draw(st.sampled_from([("", ""), ("db_", ""), ("", "_path"), ("my.", ".file"), ("APP-", "-V2")]))
    assert has_stopword(around[0] + case(joined) + around[1])


# -- Made by hand: runs, keyboard walks, repeated units ---------------------------------------------

ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "!@#$%^&*()")
WALKS = {row[k:k + 4] for row in ROWS for k in range(len(row) - 3)}


def made_by_hand_share(value: str) -> float:
    """Brute force: a character is covered when some 4 characters around it step by +1 or -1
    throughout (abcd, 4321) or are 4 keys in a row of the keyboard (qwer, 7890)."""
    low = value.lower()
    covered = set()
    for a in range(len(low) - 3):
        w = low[a:a + 4]
        steps = {ord(w[k + 1]) - ord(w[k]) for k in range(3)}
        if steps in ({1}, {-1}) or w in WALKS:
            covered.update(range(a, a + 4))
    return len(covered) / len(low) if low else 0.0


def has_short_period(value: str) -> bool:
    """Some unit of at most half the length, said again and again, makes the value."""
    n = len(value)
    return any(all(value[i] == value[i + k] for i in range(n - k)) for k in range(1, n // 2 + 1))


runs = st.builds(lambda c, n, d: "".join(chr(ord(c) + d * k) for k in range(n)),
                 st.sampled_from(string.ascii_letters + string.digits), st.integers(2, 8), st.sampled_from([1, -1]))
walks = st.builds(lambda row, k, n, up: (row[k:k + n].upper() if up else row[k:k + n]),
                  st.sampled_from(ROWS), st.integers(0, 6), st.integers(3, 6), st.booleans())
filler = st.text("zqZ#9_mK", max_size=3)
hand_made = st.lists(st.one_of(runs, walks, filler), max_size=14).map("".join)


@settings(derandomize=True, max_examples=1500, deadline=None)
@example("")
@given(hand_made)
def test_sequential_share_is_the_share_covered_by_runs_and_keyboard_walks(value):
    assert v._sequential_share(value) == made_by_hand_share(value)


@SETTINGS
@given(st.text("ab1#X", min_size=1, max_size=6), st.integers(1, 4), st.integers(0, 5), st.text("ab1#X", max_size=3))
def test_repeats_finds_a_unit_said_again_and_again(unit, times, part, noise):
    for value in (unit * times + unit[:part], unit * times + noise):
        assert v._repeats(value) == has_short_period(value), value


# -- Low entropy: the rules one by one --------------------------------------------------------------

@SETTINGS
@given(st.lists(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=3, unique=True), st.data())
def test_fewer_than_four_distinct_characters_are_typed_by_hand_at_any_length(chars, data):
    value = data.draw(st.text(st.sampled_from(chars), min_size=1, max_size=40))
    assert is_low_entropy(value)


@SETTINGS
@given(st.lists(st.sampled_from(SPARSE_UPPER + SPARSE_LOWER + SPARSE_DIGITS + SYMBOLS), min_size=4, max_size=12, unique=True),
       st.integers(2, 3))
def test_a_unit_said_twice_or_more_is_typed_by_hand_however_varied_the_unit(unit, times):
    value = "".join(unit) * times
    assert is_low_entropy(value)


@SETTINGS
@given(st.sampled_from(sorted(WALKS | {"abcd", "wxyz", "4321", "DCBA"})),
       st.lists(st.sampled_from(SPARSE_UPPER + SPARSE_LOWER + SPARSE_DIGITS + SYMBOLS), min_size=4, max_size=4, unique=True),
       st.booleans())
def test_a_value_half_made_of_a_run_is_typed_by_hand(run, rest, run_first):
    value = run + "".join(rest) if run_first else "".join(rest) + run
    assume(made_by_hand_share(value) == 0.5)  # not when the rest joined the run
    assert is_low_entropy(value)
    assert secret(value) is False


@SETTINGS
@given(st.sampled_from([string.ascii_lowercase, string.ascii_uppercase, "#%&+=~/|!?<>{}"]), st.integers(6, 15), st.data())
def test_one_class_of_character_under_16_is_typed_by_hand(alphabet, n, data):
    value = "".join(data.draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n, unique=True)))
    assert is_low_entropy(value)


@SETTINGS
@given(st.integers(6, 9), st.data())
def test_a_number_under_10_digits_is_typed_by_hand(n, data):
    assert is_low_entropy("".join(data.draw(st.lists(st.sampled_from("0123456789"), min_size=n, max_size=n, unique=True))))


@SETTINGS
@given(st.permutations("0123456789"), st.text("0123456789", max_size=6))
def test_a_number_of_10_digits_or_more_with_varied_digits_is_generated(digits, more):
    value = "".join(digits) + more
    assume(made_by_hand_share(value) < 0.5 and not has_short_period(value) and shannon(value) >= 3.0)
    assert not is_low_entropy(value)
    assert secret(value) is True


@SETTINGS
@given(st.sampled_from([string.ascii_lowercase, string.ascii_uppercase, "0123456789"]), st.data())
def test_one_class_from_16_characters_at_3_bits_or_more_is_generated(alphabet, data):
    """Eight characters twice each, shuffled: 16 characters at exactly 3.0 bits, the bound."""
    chars = data.draw(st.lists(st.sampled_from(alphabet), min_size=8, max_size=8, unique=True))
    value = "".join(data.draw(st.permutations(chars * 2)))
    assume(made_by_hand_share(value) < 0.5 and not has_short_period(value))
    assert shannon(value) == 3.0
    assert not is_low_entropy(value)


@SETTINGS
@example([2, 2, 2, 1, 1])  # 8 characters at exactly 0.75 * log2(8) = 2.25 bits: the bound itself
@given(st.lists(st.integers(1, 2), min_size=5, max_size=10))
def test_mixed_classes_from_0_75_log2_n_bits_are_generated(counts):
    """Mixed classes: generated at 0.75 * log2(length) bits or more (below 2.9), however short."""
    chars = (SPARSE_DIGITS + SYMBOLS + SPARSE_UPPER)[:len(counts)]
    # one of each first, then the second copies: not a repeated unit, no run
    value = chars + "".join(c for c, k in zip(chars, counts) if k == 2)[::-1]
    n, h = len(value), shannon(value)
    assume(0.75 * math.log2(n) <= h < 2.9 and not has_short_period(value) and made_by_hand_share(value) < 0.5)
    assert not is_low_entropy(value)


# -- secret: what a password field's value needs ----------------------------------------------------

QUOTES = [("'", "'"), ('"', '"'), ("`", "`"), ("“", "”"), ("「", "」")]
ALNUM = string.ascii_letters + string.digits


@SETTINGS
@example("admin@123", ("'", "'"))
@given(st.text(ALNUM + SYMBOLS + "@%", min_size=1, max_size=16), st.sampled_from(QUOTES))
def test_quotes_around_a_value_do_not_change_the_verdict(value, quotes):
    assert secret(quotes[0] + value + quotes[1]) is secret(value)


@SETTINGS
@given(st.text(ALNUM, min_size=1, max_size=14), st.sampled_from(".,;:?"))
def test_a_full_stop_after_a_value_is_not_part_of_it(value, stop):
    assert secret(value + stop) is secret(value)


def sparse_value(data, n: int, symbols: bool, digits: bool = True) -> str:
    """n distinct characters with upper and lower case letters, a digit and a symbol as asked."""
    pools = [SPARSE_UPPER, SPARSE_LOWER] + ([SPARSE_DIGITS] if digits else []) + ([SYMBOLS] if symbols else [])
    first = [data.draw(st.sampled_from(p)) for p in pools]
    others = sorted(set("".join(pools)) - set(first))
    rest = data.draw(st.lists(st.sampled_from(others), min_size=n - len(first), max_size=n - len(first), unique=True))
    return "".join(data.draw(st.permutations(first + rest)))


@SETTINGS
@given(st.data())
def test_a_random_password_keeps_whatever_letters_it_starts_and_ends_with(data):
    body = sparse_value(data, 7, symbols=False)
    for letter in string.ascii_letters:
        assert secret(letter + body) is True, letter + body
        assert secret(body + letter) is True, body + letter


@SETTINGS
@given(st.text(ALNUM + SYMBOLS, max_size=5))
def test_values_under_six_characters_are_never_credentials(value):
    assert secret(value) is False


@SETTINGS
@given(st.integers(6, 7), st.data())
def test_six_or_seven_characters_are_a_credential_with_a_digit_and_a_symbol(n, data):
    assert secret(sparse_value(data, n, symbols=True)) is True
    assert secret(sparse_value(data, n, symbols=False)) is False
    assert secret(sparse_value(data, n, symbols=True, digits=False)) is False


@SETTINGS
@given(st.integers(8, 12), st.data())
def test_eight_characters_and_more_are_a_credential_without_a_symbol(n, data):
    assert secret(sparse_value(data, n, symbols=False)) is True


# -- JWTs -------------------------------------------------------------------------------------------

B64URL = string.ascii_letters + string.digits + "-_"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(sub: str, iat: int, key: bytes) -> tuple[str, str, str]:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64url(json.dumps({"sub": sub, "iat": iat}, separators=(",", ":")).encode())
    signature = b64url(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return header, payload, signature


jwts = st.builds(jwt, st.text(SPARSE_LOWER + SPARSE_DIGITS, min_size=1, max_size=12), st.integers(1_500_000_000, 2_000_000_000),
                 st.binary(min_size=16, max_size=32))


@SETTINGS
@given(jwts)
def test_a_whole_signed_jwt_is_a_credential_and_its_parts_alone_are_not(parts):
    header, payload, signature = parts
    whole = f"{header}.{payload}.{signature}"
    assert secret(whole) is True and not is_jwt_part(whole)
    # what a decoded copy leaves, and an unsigned token (alg none: header.payload.)
    for part in (header, payload, f"{header}.{payload}", f"{header}.", f"{header}.{payload}."):
        assert is_jwt_part(part), part
        assert secret(part) is False, part


@SETTINGS
@example("X")
@given(st.text(B64URL, min_size=1, max_size=6))
def test_three_parts_make_a_whole_jwt_whatever_the_signature_s_characters(signature):
    header, payload, _ = jwt("k2m8", 1_700_000_000, b"k" * 16)
    assert not is_jwt_part(f"{header}.{payload}.{signature}")


# -- Prefixed tokens --------------------------------------------------------------------------------

PREFIXES = ["sk-", "xoxb-", "hvs.", "glpat-", "sk-proj-", "npm_"]


@SETTINGS
@given(st.sampled_from(PREFIXES), st.integers(8, 16), st.data())
def test_a_token_with_a_random_body_of_8_or_more_is_a_credential(prefix, n, data):
    assert token(prefix + sparse_value(data, n, symbols=False)) is True


@SETTINGS
@given(st.sampled_from(PREFIXES), st.integers(3, 7), st.data())
def test_a_token_body_under_8_characters_is_not_a_credential(prefix, n, data):
    assert token(prefix + sparse_value(data, n, symbols=False)) is False


# -- GitHub and npm tokens (CRC32 tail) ------------------------------------------------------------

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def crc_tail(body: str) -> str:
    n, tail = zlib.crc32(body.encode()), ""
    while n:
        n, r = divmod(n, 62)
        tail = B62[r] + tail
    return tail.rjust(6, "0")


# a seeded generator, not st.randoms(): hypothesis would shrink those to 000…0, which is typed
random_bodies = st.integers(0, 2**32).map(lambda seed: "".join(random.Random(seed).choices(B62, k=30)))


@SETTINGS
@given(st.sampled_from(["ghp", "gho", "npm"]), st.text(B62, max_size=50).filter(lambda r: len(r) != 36))
def test_a_github_token_of_the_wrong_length_does_not_check(prefix, rest):
    assert crc32_tail(f"{prefix}_{rest}") is False


@SETTINGS
@given(st.sampled_from(["ghp", "npm"]), random_bodies, st.integers(0, 29), st.sampled_from("-+/=.~"))
def test_a_github_token_body_outside_base62_does_not_check_even_with_a_matching_tail(prefix, body, at, odd):
    body = body[:at] + odd + body[at + 1:]
    assert crc32_tail(f"{prefix}_{body}{crc_tail(body)}") is False


@SETTINGS
@given(random_bodies, st.sampled_from(["github_pat", "ghp_", "gh_p", "npm_x"]))
def test_a_github_token_s_36_characters_follow_its_one_underscore(body, prefix):
    good = body + crc_tail(body)
    assert crc32_tail("ghp_" + good) is True
    assert crc32_tail(f"{prefix}_{good}") is False
