"""Markings are structure, not words: tables of (text, expected action, rule)."""
import pytest

NEWSPAPER = """保密宣传教育专版

筑牢保密防线 守护发展安全

本报讯 近日，集团公司召开保密工作会议。会议指出，国家秘密、工作秘密、商业秘密是企业安全发展的生命线，
各单位要严格落实“涉密不上网、上网不涉密”要求，严禁将国家秘密、工作秘密和商业秘密信息输入互联网大模型。
会议强调，国家秘密分为绝密、机密、秘密三个密级，标注形式为“机密★5年”等，工作人员应准确识别密级标志。
商业秘密分为核心商密和普通商密，标注时使用“核心商密▲5年”的形式；工作秘密由各单位依规确定。
保密办负责人表示，今年以来共开展商业秘密保护培训12场，覆盖员工3万余人次，工作秘密管理制度已修订完善。
会议要求，各级领导干部要带头学习《保守国家秘密法》，切实做好国家秘密、工作秘密、商业秘密的定密、标注和管理。
专家解读：什么是商业秘密？商业秘密是指不为公众所知悉、具有商业价值并经权利人采取相应保密措施的技术信息和经营信息。
"""


@pytest.mark.parametrize("text, action, rule", [
    # national secret markings, with the variants users and writers produce
    ("请翻译：\n绝密★长期\n\n年度投资计划", "block", "state-secret.marking"),
    ("机密★10年\n关于…", "block", "state-secret.marking"),
    ("秘密★3个月", "block", "state-secret.marking"),
    ("000012\n秘密★2030年6月30日\n特急", "block", "state-secret.marking"),
    ("機密★１０年\n報告", "block", "state-secret.marking"),
    ("机 密 ★ 10 年", "block", "state-secret.marking"),
    ("绝\u200d密✩长期", "block", "state-secret.marking"),
    ("秘密⭐1年", "block", "state-secret.marking"),
    ("附件：\n\n绝密★\n\n（略）", "block", "state-secret.bare-star"),
    ("密　级：机密\n标题", "block", "state-secret.field"),
    ("份号：000123\n秘密\n特急\n某某事业部文件", "block", "state-secret.level-head"),
    ("机密妇8年\n关于报告", "block", "state-secret.ocr-tolerant"),
    ("秘密★一年\n正文", "block", "state-secret.marking"),
    ("绝密★启用前\n2027年度考试试题", "block", "state-secret.marking"),
    ("机密∗5年", "block", "state-secret.marking"),
    ("材料如下：\n机密★5年\n关于…", "block", "state-secret.marking"),
    ("机·密★5年", "block", "state-secret.marking"),
    ("绝-密★长期", "block", "state-secret.marking"),
    ("机.密.★.5.年\n关于…", "block", "state-secret.marking"),          # separators through the whole marking
    ("秘 - 密 - ★ - 1 - 年\n通知", "block", "state-secret.marking"),
    ("核心商密-▲-3年\n开发方案", "block", "commercial-secret.marking"),
    ("机\u0332密\u0336★5年\n报告", "block", "state-secret.marking"),     # combining underline / strike-through
    ("**机**密★5年\n报告", "block", "state-secret.marking"),                 # Markdown emphasis inside the word
    ("机密级★10年\n关于…", "block", "state-secret.marking"),                  # level written with 级
    ("000127\n绝密级\n关于…", "block", "state-secret.level-head"),
    ("秘密\\*1年\n报告", "block", "state-secret.marking"),                    # Markdown-escaped star
    ("<p>绝<b>密</b>★长期</p>\n<p>计划</p>", "block", "state-secret.marking"),  # HTML tags inside the word
    ("\\u673a\\u5bc6\\u26055\\u5e74 报告", "block", "state-secret.marking"),
    ("&#26426;&#23494;&#9733;5&#24180; 报告", "block", "state-secret.marking"),
    ("%E6%9C%BA%E5%AF%86%E2%98%855%E5%B9%B4", "block", "state-secret.marking"),
    # commercial and work secret markings
    ("××石油公司普通商密▲5年\n合同", "block", "commercial-secret.marking"),
    ("核心商密△长期", "block", "commercial-secret.marking"),
    ("核心商密\n\n催化剂配方", "block", "commercial-secret.level-head"),
    ("工作秘密\n关于…", "block", "work-secret.marking"),
    ("工作秘密▲1年\n通知", "block", "work-secret.marking"),
    ("密级：工作秘密", "block", "work-secret.field"),
    # internal markings warn
    ("内部资料　注意保存\n会议纪要", "warn", "internal.marking"),
    ("INTERNAL USE ONLY\nQ3 roadmap", "warn", "internal.marking"),
    ("FOR INTERNAL USE ONLY", "warn", "internal.marking"),
    ("仅供内部参考\n周报", "warn", "internal.marking"),
    ("内部★\n通知", "warn", "internal.marking"),
])
def test_markings(engine, text, action, rule):
    v = engine.scan_text(text)
    assert v.action == action, v.findings
    assert rule in v.rules


@pytest.mark.parametrize("text", [
    NEWSPAPER,
    "公文中密级标注示例：“机密★5年”表示机密级、保密期限5年，这样理解对吗？",
    "例如：秘密★1年，请问这个标志放在文件什么位置？",
    "国家秘密的密级分为绝密、机密、秘密三级，请解释三者的区别。",
    "秘密花园这本书讲了什么故事？",
    "信息安全的三要素是机密性、完整性和可用性。",
    "这款保温杯真不错，五星好评★★★★★。",
    "不得将工作秘密、商业秘密上传到互联网。",
    "《中国石化商业秘密保护规定》修订后有哪些主要变化？",
    "我们单位新采购了一批涉密计算机，请帮我拟一份验收报告模板。",
    "请起草一份关于加强内部资料管理的通知",
    "What is confidential computing?",
    "核心商密和普通商密的保护期限分别是多少？",
    "机密★5年是什么意思？",
    "有机-密封件的采购计划",
    "网址 https://a.com/%E6%96%87%E6%A1%A3 打不开",
    "标注示例：\n机密★5年\n表示机密级、保密期限5年。",
    "3.5年后再评估，预计储量3.2亿吨。",                 # decimals near 年 stay decimals
    "Café crème, naïve résumé",                         # combining accents are not a reason to flag
    "代码里 a*b 和 `x` 的区别，机器<br>密码学入门",      # markup between unrelated words joins nothing
    "密级分为绝密级、机密级、秘密级三个等级，这份文件是机密级的吗？",
])
def test_mentions_are_not_markings(engine, text):
    v = engine.scan_text(text)
    assert v.action == "allow", v.findings


def test_excerpt_shows_marking_not_content(engine):
    v = engine.scan_text("机密★5年\n关于塔河油田三维地震勘探成果的报告，预测地质储量约3.2亿吨")
    f = next(f for f in v.findings if f.rule == "state-secret.marking")
    assert f.excerpt == "机密★5年"
    assert "储量" not in f.excerpt and f.location == "line 1"


def test_excerpt_keeps_original_spelling(engine):
    v = engine.scan_text("前言\n機\u200b密★５年")
    f = v.findings[0]
    assert f.excerpt == "機\u200b密★５年".replace("\u200b", "\u200b") and f.location == "line 2"
