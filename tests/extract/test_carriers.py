"""Every carrier × every kind of marking: the marking reaches the matcher, is found with a rule
of its family, and the finding says which carrier it came from; the same carrier holding a
benign value passes. The cross product of carriers and markings is exhaustive (every cell on
every run); evasions × charsets are generated with hypothesis on the text carriers."""
import re

import pytest
from carriers import ALL, OFFICE_CARRIERS, TEXT_CARRIERS, xlsx_validation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# (marking, rule family): national levels with and without a period, commercial, work.
MARKS = [
    ("机密★5年", "state-secret"),
    ("绝密★长期", "state-secret"),
    ("秘密", "state-secret"),
    ("机密", "state-secret"),
    ("核心商密▲3年", "commercial-secret"),
    ("普通商密▲5年", "commercial-secret"),
    ("工作秘密", "work-secret"),
]
BENIGN = ["公开", "设备检修"]


def _found(verdict, family: str, where: str) -> bool:
    hits = [f for f in verdict.findings if f.rule.startswith(family + ".")]
    return verdict.action == "block" and any(where in f.location or where in f.excerpt for f in hits)


@pytest.mark.parametrize("mark, family", MARKS, ids=[m for m, _ in MARKS])
@pytest.mark.parametrize("carrier", ALL, ids=[c.__name__ for c in ALL])
def test_marking_in_every_carrier_is_found_there(engine, carrier, mark, family):
    data, filename, where = carrier(mark)
    verdict = engine.scan_bytes(data, filename=filename)
    assert _found(verdict, family, where), [(f.rule, f.location) for f in verdict.findings]


@pytest.mark.parametrize("value", BENIGN)
@pytest.mark.parametrize("carrier", ALL, ids=[c.__name__ for c in ALL])
def test_benign_value_in_the_same_carrier_passes(engine, carrier, value):
    data, filename, _ = carrier(value)
    verdict = engine.scan_bytes(data, filename=filename)
    assert verdict.action == "allow", [(f.rule, f.location, f.excerpt) for f in verdict.findings]


def test_an_option_list_of_levels_is_a_mention(engine):
    """A drop-down offering every level (a form's 密级 column) marks nothing."""
    data, filename, _ = xlsx_validation("绝密,机密,秘密,公开")
    assert engine.scan_bytes(data, filename=filename).action == "allow"


# --- evasions × charsets on the text carriers (generated) --------------------------------

_TRADITIONAL = str.maketrans("机绝级内资业长个", "機絕級內資業長個")
EVASIONS = {
    "plain": lambda m: m,
    "traditional": lambda m: m.translate(_TRADITIONAL),
    "full-width": lambda m: m.translate(str.maketrans("0123456789★▲", "０１２３４５６７８９☆△")),
    "zero-width": lambda m: m[0] + "\u200b" + m[1:],
    "spaced": lambda m: m[0] + " " + m[1:],
}
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "utf-16"]
# Formats whose bytes are text we can re-encode (mail is already 7-bit MIME).
REENCODABLE = [c for c in TEXT_CARRIERS if not c.__name__.startswith("mail")]


def _reencode(data: bytes, encoding: str) -> bytes:
    text = data.decode("utf-8")
    # A writer that saves XML in another charset says so in the declaration.
    text = re.sub(r'encoding="UTF-8"', f'encoding="{encoding.upper().removesuffix("-SIG")}"', text, count=1)
    return text.encode(encoding)


@settings(derandomize=True, max_examples=160, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carrier=st.sampled_from(REENCODABLE), marking=st.sampled_from(MARKS),
       evasion=st.sampled_from(sorted(EVASIONS)), encoding=st.sampled_from(ENCODINGS))
def test_evaded_and_reencoded_markings_in_text_carriers(engine, carrier, marking, evasion, encoding):
    mark, family = marking
    data, filename, _ = carrier(EVASIONS[evasion](mark))
    verdict = engine.scan_bytes(_reencode(data, encoding), filename=filename)
    assert _found(verdict, family, ""), (evasion, encoding, [(f.rule, f.location) for f in verdict.findings])


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carrier=st.sampled_from(OFFICE_CARRIERS), marking=st.sampled_from(MARKS),
       evasion=st.sampled_from(sorted(EVASIONS)))
def test_evaded_markings_in_office_carriers(engine, carrier, marking, evasion):
    mark, family = marking
    data, filename, where = carrier(EVASIONS[evasion](mark))
    verdict = engine.scan_bytes(data, filename=filename)
    assert _found(verdict, family, ""), (evasion, [(f.rule, f.location) for f in verdict.findings])


# --- the upload ledger ----------------------------------------------------------------------

def test_ledger_names_what_was_read_and_what_was_not(engine):
    from carriers import docx_header, xlsx_sheet_name

    data, filename, _ = docx_header("公开")
    verdict = engine.scan_bytes(data, filename=filename)
    (entry,) = verdict.ledger
    assert entry["name"] == filename and entry["type"] == "ooxml" and len(entry["sha256"]) == 64
    assert "/document" in entry["read"] and any(r.startswith("/header") for r in entry["read"])
    assert entry["parts"] >= len(entry["read"])
    # The template's thumbnail is a picture that yielded no text: listed, with the reason.
    assert all(n["reason"] for n in entry["not_read"])

    data, filename, _ = xlsx_sheet_name("公开")
    (entry,) = engine.scan_bytes(data, filename=filename).ledger
    assert "/sheet names" in entry["read"] and any(r.endswith("!") for r in entry["read"])


def test_ledger_reports_an_unreadable_member(engine):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ok.txt", "季度安排")
        z.writestr("blob.bin", bytes(range(256)) * 8)
    verdict = engine.scan_bytes(buf.getvalue(), filename="a.zip")
    assert verdict.action == "block"
    by_name = {e["name"]: e for e in verdict.ledger}
    assert by_name["ok.txt"]["read"] and not by_name["ok.txt"]["not_read"]
    assert by_name["blob.bin"]["not_read"][0]["reason"] == "unsupported"
    assert "ledger" in verdict.to_dict()


def test_audit_record_carries_the_ledger_without_content(engine):
    from carriers import docx_header

    from guard.audit.record import RequestInfo, build

    data, filename, _ = docx_header("机密★5年")
    verdict = engine.scan_bytes(data, filename="【机密】设备检修方案.docx")
    rec = build("e1", RequestInfo(host="api.openai.com", method="POST", path="/v1/files"), verdict, engine.policy)
    (entry,) = rec["ledger"]
    assert entry["name"].endswith(".docx") and "设备检修方案" not in entry["name"]
    assert entry["read"] and isinstance(entry["not_scanned"], list)
    assert "机密★5年" not in str(entry)  # names, counts and reasons; never content
