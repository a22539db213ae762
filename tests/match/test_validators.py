import pytest

from guard.match.validators import cn_id, luhn, secret, uscc


@pytest.mark.parametrize("value, ok", [
    ("110105198803121236", True),
    ("110105198803121230", False),  # wrong check digit
    ("32010219900606005X", True),
    ("110105198813121236", False),  # month 13
    ("010105198803121236", False),
])
def test_cn_id(value, ok):
    assert cn_id(value) is ok


@pytest.mark.parametrize("value, ok", [("6222021001123456789", True), ("6222021001123456788", False), ("4111111111111111", True)])
def test_luhn(value, ok):
    assert luhn(value) is ok


@pytest.mark.parametrize("value, ok", [("91350100M000100Y43", True), ("91350100M000100Y44", False)])
def test_uscc(value, ok):
    assert uscc(value) is ok


@pytest.mark.parametrize("value, ok", [("9s8DkqJ2mV+u1XbT0cW3", True), ("response.json", False), ("aaaaaaa1", False)])
def test_secret(value, ok):
    assert secret(value) is ok
