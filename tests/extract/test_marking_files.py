"""The marking families of issue 9 inside real writers' files: headers, first paragraphs,
spreadsheet cells, slide titles, PDF text; and training material in the same formats."""
import pytest
from writers import make_docx, make_pdf, make_pptx, make_xlsx

CASES = [
    ("docx", lambda: make_docx(["关于设备采购的通知", "各单位："], header="秘密　请勿复印"), "block", "state-secret.level-head"),
    ("docx", lambda: make_docx(["〔机密〕关于边境管线巡护的报告", "现有点位14处"]), "block", "state-secret.level-head"),
    ("docx", lambda: make_docx(["工作秘密（用后交回）", "关于调整考核指标的意见"]), "block", "work-secret.marking"),
    ("docx", lambda: make_docx(["××集团公司机密", "二〇二七年人事调整方案"]), "block", "commercial-secret.owner-head"),
    ("xlsx", lambda: make_xlsx({"基本信息": [["项目", "内容"], ["密级", "机密"], ["编号", "KT-1"]]}), "block", "state-secret.field"),
    ("xlsx", lambda: make_xlsx({"表": [["密级", "内部"], ["内容", "巡检"]]}), "warn", "internal.field"),
    ("pptx", lambda: make_pptx([("内部使用", "信息中心值班表")]), "warn", "internal.marking"),
    ("pptx", lambda: make_pptx([("TOP SECRET", "Operation plan")]), "block", "state-secret.en-banner"),
    ("pdf", lambda: make_pdf(["商业秘密 禁止转发", "合作条款备忘"]), "block", "commercial-secret.level-head"),
    # training material: allowed
    ("docx", lambda: make_docx(["保密知识测试", "下列密级标志写法正确的是：", "A．绝密★长期", "B．绝密长期★", "C．★绝密长期",
                                "答案：A"]), "allow", None),
    ("pptx", lambda: make_pptx([("国家秘密标志", "绝密★长期\n机密★10年\n秘密★5年")]), "allow", None),
    ("docx", lambda: make_docx(["商业秘密标志说明", "核心商密▲10年：表示核心商业秘密，保密期限十年。",
                                "普通商密▲3年：表示普通商业秘密。"]), "allow", None),
    ("docx", lambda: make_docx(["标志示例"], table=[["类别", "标志示例"], ["国家秘密", "机密★10年"],
                                                  ["商业秘密", "核心商密▲5年"]]), "allow", None),
    ("pdf", lambda: make_pdf(["保密培训讲义", "1. 绝密★长期", "2. 机密★20年", "3. 秘密★10年"]), "allow", None),
]


@pytest.mark.parametrize("ext, make, action, rule", CASES)
def test_marking_families_in_files(engine, ext, make, action, rule):
    v = engine.scan_bytes(make(), filename=f"材料.{ext}")
    assert v.action == action, v.findings
    if rule:
        assert rule in v.rules, v.rules
