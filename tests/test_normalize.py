import pytest

from guard.normalize import Normalizer


@pytest.mark.parametrize("raw, expected", [
    ("机\u200b密★5年", "机密★5年"),
    ("機密★５年", "机密★5年"),
    ("秘\u3000密☆1年", "秘密★1年"),
    ("绝 密★长期", "绝密★长期"),
    ("机\n密★", "机密★"),
    ("核心商密△3年", "核心商密▲3年"),
    ("普通文本，没有变化。", "普通文本，没有变化。"),
    ("保密\n秘密★1年", "保密\n秘密★1年"),  # a line break between two words stays
    ("秘\u2060密\ufeff★1年", "秘密★1年"),
    ("㊙密★1年", "秘密★1年"),
])
def test_normalize(raw, expected):
    assert Normalizer().normalize(raw).text == expected


def test_offsets_map_back_to_original():
    raw = "前言\n机\u200b 密★5年\n正文"
    n = Normalizer().normalize(raw)
    s = n.text.index("机密★5年")
    e = s + len("机密★5年")
    assert raw[n.to_original(s):n.to_original(e - 1) + 1] == "机\u200b 密★5年"


def test_untouched_text_has_no_map():
    n = Normalizer().normalize("plain text 普通")
    assert n.text == "plain text 普通" and n.to_original(5) == 5
