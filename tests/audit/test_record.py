"""What an audit record may hold: metadata and masked forms, never titles or query values."""
import pytest

from guard.audit.record import RequestInfo, build, mask_filename, mask_location, mask_path
from guard.policy import load_policy, load_policy_text
from guard.types import Finding, Verdict


@pytest.mark.parametrize("name, masked", [
    ("【机密】关于塔河油田储量的报告.docx", "【机密】***********.docx"),
    ("核心商密▲3年-报价单.xlsx", "核心商密▲3年-***.xlsx"),
    ("weekly report.pdf", "****** ******.pdf"),
    (None, None),
])
def test_file_names_show_marking_and_extension_only(name, masked):
    assert mask_filename(name) == masked


@pytest.mark.parametrize("location, masked", [
    ("file:a.zip/【机密】项目报告.docx/header1 line 1", "file:*.zip/【机密】****.docx/header1 line 1"),
    ("upload/docs/塔河油田报告.pdf/page1", "upload/docs/******.pdf/page1"),
    ("messages[0].text line 2", "messages[0].text line 2"),   # a JSON path is not a file name
    ("upload/x.xlsx/Sheet1!A2", "upload/*.xlsx/Sheet1!A2"),
])
def test_locations_mask_file_names(location, masked):
    assert mask_location(location) == masked


def test_every_query_value_is_masked():
    assert mask_path("/v1/x?q=机密★5年&key=abc&empty=") == "/v1/x?q=***&key=***&empty="
    assert mask_path("/v1/chat/completions") == "/v1/chat/completions"


def _record(policy):
    info = RequestInfo(host="api.openai.com", method="POST", path="/v1/files?purpose=关于项目",
                       files=[{"name": "【秘密】塔河油田报告.docx", "type": "docx", "size": 1, "sha256": "0"}])
    verdict = Verdict("block", (Finding("state-secret.marking", "block", "critical",
                                        "upload/【秘密】塔河油田报告.docx/header1 line 1", "秘密★1年"),))
    return build("evt-1", info, verdict, policy)


def test_record_holds_no_title():
    rec = _record(load_policy())
    text = repr(rec)
    assert "塔河油田" not in text and "关于项目" not in text
    assert rec["files"][0]["name"] == "【秘密】******.docx"


def test_full_file_names_when_the_policy_says_so():
    policy = load_policy_text("extends: [default.yaml]\nsettings: {audit_file_names: full}\n")
    rec = _record(policy)
    assert rec["files"][0]["name"] == "【秘密】塔河油田报告.docx"
    with pytest.raises(Exception, match="audit_file_names"):
        load_policy_text("extends: [default.yaml]\nsettings: {audit_file_names: some}\n")
