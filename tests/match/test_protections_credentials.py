"""The secret validator's own protections (issue 26): a value must look generated, not typed
(entropy), and must not carry a stop word (`example`, `placeholder`, `environ`…), or a
`password:` line in every how-to would block. Each test fails when its protection is removed."""
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.match.validators import secret

RULE = "credential.secret-assignment"


def entropy(v: str) -> float:
    n = len(v)
    return -sum(c / n * math.log2(c / n) for c in Counter(v).values())


# Low entropy although a digit and six or more distinct characters are there: a dictionary word
# with one digit, runs of one letter, a keyboard walk or a word typed twice.
LOW = ["Passw0rd", "qwertyqwerty1", "mmmmmmmmmmmm1nopq", "aaaaaaaaaaaaaaaaaaab1cdef", "abcdefabcdefabcdef1"]
# The control: values the same checks let through (the policy's own `match` examples).
RANDOM = ["9s8DkqJ2mV+u1XbT0cW3nYzQ4eR5tL6pA7oB8iC9", "Tr0ub4dor&3x", "K9#mq2Lx7v", "Qw3rty!2027x",
          "8Kd92LmQz7Rt4Vw1Yb6Nc3Pf5Hj0Gs2U"]


@pytest.mark.parametrize("value", LOW)
def test_low_entropy_values_are_not_secrets(engine, value):
    assert any(c.isdigit() for c in value) and len(set(value)) >= 6  # only the entropy check can reject it
    assert entropy(value) < 2.8
    assert secret(value) is False
    assert RULE not in engine.scan_text(f"password: {value}").rules


@pytest.mark.parametrize("value", RANDOM)
def test_generated_values_are_secrets(engine, value):
    assert secret(value) is True
    assert RULE in engine.scan_text(f"password: {value}").rules


@settings(derandomize=True, max_examples=200)
@given(letter=st.sampled_from("aeiou"), run=st.integers(12, 40),
       tail=st.lists(st.sampled_from("bcdfghjkmnpqrstvwxyz"), min_size=5, max_size=5, unique=True),
       digit=st.sampled_from("0123456789"), at=st.integers(0, 100))
def test_a_long_run_of_one_letter_is_never_a_secret(letter, run, tail, digit, at):
    rest = digit + "".join(tail)
    value = letter * run
    value = value[:at % run] + rest + value[at % run:]  # the run around a few other characters
    assert len(set(value)) >= 6 and entropy(value) < 2.8
    assert secret(value) is False


# Values that would be credentials but for a stop word inside them: an `example` key, a
# `placeholder` password, a reference to the environment.
STOPPED = ["zq_placeholder_pw9X", "k3_example_Tz9QwL", "k8s_environ_Tk29xq", "cfg_getenv_PASS7x"]


@pytest.mark.parametrize("value", STOPPED)
def test_stop_words_inside_a_value_pass(engine, value):
    for line in (f"password: {value}", f'api_key = "{value}"', f"export DB_PASSWORD={value}"):
        assert RULE not in engine.scan_text(line).rules, line


@pytest.mark.parametrize("value", STOPPED)
def test_the_same_values_without_the_stop_word_are_found(engine, value):
    for word in ("placeholder", "example", "environ", "getenv"):
        value = value.replace(word, "Qz7w")
    assert RULE in engine.scan_text(f"password: {value}").rules, value
