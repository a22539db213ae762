"""Markings as staff write them, and examples of markings that are not markings.

Each family: positives and hard negatives side by side, with the rule a finding must name.
"""
import base64

import pytest

# 1. A level word with more on the same line, at the head of a document or in a header.
LEVEL_LINE = [
    ("秘密 请勿外传\n\n关于调整油气价格的通知\n各单位：", "block", "state-secret.level-head"),
    ("机密\u3000阅后即焚\n关于某项目的汇报", "block", "state-secret.level-head"),
    ("绝密（不得复制）\n2028年规划", "block", "state-secret.level-head"),
    ("【机密】2027年度预算编制说明\n一、总体情况", "block", "state-secret.level-head"),
    ("［秘密］关于人员调整的请示\n", "block", "state-secret.level-head"),
    ("〔绝密〕\n关于…", "block", "state-secret.level-head"),
    ("份号：000012\n机密级\u3000保密期限：五年\n特急\n某局文件", "block", "state-secret.level-head"),
    ("商业秘密（限项目组）\n\n合同谈判底线", "block", "commercial-secret.level-head"),
    ("核心商密 严禁外传\n工艺参数表", "block", "commercial-secret.level-head"),
    ("工作秘密 注意保管\n关于…的意见", "block", "work-secret.marking"),
    ("工作秘密【用后收回】\n某会议纪要", "block", "work-secret.marking"),
]
LEVEL_LINE_NEGATIVE = [
    "企业应保护商业秘密，严禁外传客户名单。",
    "秘密花园\n读后感",
    "机密性是信息安全的核心\n请展开说说",
    "工作秘密的认定和管理办法\n第一条",
    "商业秘密 保护指南\n第一章 总则",
    "秘密 是什么意思",
    "我们公司秘密研发了一款新产品，帮我写一篇新闻稿。",
    # far from the head and the foot: prose (at the foot it is a marking: docs/markings.md)
    "前言\n第一段\n第二段\n第三段\n第四段\n第五段\n第六段\n秘密 请勿外传\n第七段\n第八段\n第九段",
]

# 2. Fields in tables, Markdown, JSON and YAML.
FIELDS = [
    ("|字段|值|\n|--|--|\n|密级|绝密|\n", "block", "state-secret.field"),
    ("密级：__机密__\n标题", "block", "state-secret.field"),
    ("**密级**：秘密\n纪要", "block", "state-secret.field"),
    ("密级: 『机密』\n", "block", "state-secret.field"),
    ('{"title": "x", "密级": "秘密"}', "block", "state-secret.field"),
    ("title: 年度计划\n密级: 机密\n", "block", "state-secret.field"),
    ("> **密级：** 绝密\n> 会议纪要", "block", "state-secret.field"),
    ("设备\t型号\n密级\t机密\n", "block", "state-secret.field"),  # two spreadsheet cells
    ("保密等级：机密\n报告", "block", "state-secret.field"),
    ("保密级别：秘密\n纪要", "block", "state-secret.field"),
]
FIELDS_NEGATIVE = [
    "国家秘密的密级分为绝密、机密、秘密三级。",
    "“密级：机密”这种写法对吗？",
    "保密等级分为绝密、机密、秘密三级。",
]

# 3. The wider vocabulary; each names its own family's rule.
VOCABULARY = [
    ("公司秘密\n\n年度人事调整方案", "block", "commercial-secret.level-head"),
    ("企业机密 禁止转发\n销售底价", "block", "commercial-secret.level-head"),
    ("××能源集团公司秘密\n\n关于…", "block", "commercial-secret.owner-head"),
    ("商密\n\n投标报价明细", "block", "commercial-secret.level-head"),
    ("企业秘密★5年\n方案", "block", "commercial-secret.marking"),
    ("公司机密▲2年\n报价", "block", "commercial-secret.marking"),
    ("内部使用\n通讯录", "warn", "internal.marking"),
    ("（内部）\n值班安排", "warn", "internal.marking"),
    ("密级：内部\n巡检记录", "warn", "internal.field"),
    ("本资料仅供内部参阅\n周报", "warn", "internal.marking"),
]
VOCABULARY_NEGATIVE = [
    "商密 等级划分标准是什么",
    "内部使用权转让协议范本",
    "企业秘密的范围包括哪些？",
]

# 4. English banners and fields.
ENGLISH = [
    ("TOP SECRET\n\nOperation plan", "block", "state-secret.en-banner"),
    ("SECRET//REL TO CN\nnotes", "block", "state-secret.en-banner"),
    ("Classification: Secret\nSubject: merger", "block", "state-secret.en-field"),
    ("Security classification: Confidential\nq3", "warn", "internal.en-field"),
    ("CONFIDENTIAL\nPricing", "warn", "internal.confidential-en"),
    ("RESTRICTED\nProject notes", "warn", "internal.confidential-en"),
]
ENGLISH_NEGATIVE = [
    "The secret to a good pitch is preparation.",
    "Secret Santa rules for the office party",
    "Top secret recipe for dumplings?",
    "image classification: cats vs dogs",
]

# 6. Credentials on command lines and in prose.
CREDENTIALS = [
    ("mysql -h127.0.0.1 -uadmin -pK8s#Db2027q mydb", "block", "credential.cli-password"),
    ("mysqldump -u backup -p'Qz7!vRt9#Lm2' erp", "block", "credential.cli-password"),
    ("sshpass -p 'Wq9$zL2mPx' ssh ops@10.0.0.8", "block", "credential.cli-password"),
    ("redis-cli -a 'Zq8#mLp2Xw' -h cache", "block", "credential.cli-password"),
    ("curl --user ops:Op5#2027Zxq https://10.1.1.1/api", "block", "credential.cli-password"),
    ("PGPASSWORD='Pg!9x7Lm2q' psql -h db -U app", "block", "credential.secret-assignment"),
    ("数据库 root 的密码是 Wn7#qLp29z，帮我写连接代码", "block", "credential.secret-assignment"),
    ("堡垒机口令为 Ab12!xYz99", "block", "credential.secret-assignment"),
]
CREDENTIALS_NEGATIVE = [
    "mysql -h db -P 3306 -u root -p",
    "mysql -u root -p 3306",
    "密码是什么时候改的？",
    "初始密码是 your-password，请登录后修改",
    "docker run -e MYSQL_ROOT_PASSWORD=${MYSQL_PWD} mysql",
    "AWS 示例 aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS 文档里的示例密钥 AKIAIOSFODNN7EXAMPLE 可以用吗？",   # 11. documentation placeholders
]


def _cn_id(first17: str) -> str:
    total = sum(int(d) * pow(2, 17 - k, 11) for k, d in enumerate(first17))
    c = (12 - total % 11) % 11
    return first17 + ("X" if c == 10 else str(c))


# 7. Grouped digits are the same values; bulk thresholds count them.
_IDS = [_cn_id(f"{r}19{y}0{m}1{d}00{k}") for k, (r, y, m, d) in
        enumerate([("110105", 88, 3, 5), ("310104", 92, 7, 2), ("440106", 85, 1, 1), ("510107", 90, 9, 9),
                   ("320106", 95, 5, 5), ("420102", 87, 8, 8)])]
GROUPED = [
    ("名单：\n" + "\n".join(f"员工{i} {v[:6]} {v[6:14]} {v[14:]}" for i, v in enumerate(_IDS)), "block", "pii.cn-id"),
    ("名单：\n" + "\n".join(f"员工{i} {v[:6]}-{v[6:10]}-{v[10:14]}-{v[14:]}" for i, v in enumerate(_IDS)), "block", "pii.cn-id"),
    # mistyped check digits still count in bulk: ID-shaped numbers beside names
    ("名单：\n" + "\n".join(f"员工{i} {v[:17]}{(int(v[17]) + 1) % 10 if v[17] != 'X' else 0}" for i, v in enumerate(_IDS)),
     "block", "pii.cn-id"),
    ("通讯录：\n" + "\n".join(f"员工{i} 138-{1000 + i * 7:04d}-{5000 + i * 13:04d}" for i in range(12)), "warn", "pii.cn-mobile"),
    ("通讯录：\n" + "\n".join(f"员工{i} 139 {1000 + i * 7:04d} {5000 + i * 13:04d}" for i in range(12)), "warn", "pii.cn-mobile"),
]
GROUPED_NEGATIVE = [
    "订单号 440106198501020017 已发货",                       # one ID-shaped number, wrong check digit
    "联系电话 138-1000-5000，欢迎来电",                        # one phone number
    "\n".join(f"流水号 {20240101000000 + i * 7919:d}0000" for i in range(10)),  # dates as numbers: no region
]

# 9. Enumerated examples are mentions.
EXAMPLES_NEGATIVE = [
    "保密培训课件\n第3页 密级标志示例\n- 绝密★长期\n- 机密★10年\n- 秘密★5年",
    "选择题：下列哪个是正确的国家秘密标志？\nA. 机密★5年\nB. ★机密5年\nC. 机密5年\nD. 5年★机密",
    "判断题\n（1）秘密★1年 表示秘密级、保密期限一年。（ ）\n（2）绝密★长期 表示永久保密。（ ）",
    "国家秘密标志示例：绝密★长期、机密★10年、秘密★5年。",
    "普通商密▲3年：表示普通商业秘密，保密期限三年",
    "① 核心商密▲5年\n② 普通商密▲2年\n以上为商业秘密标志的标注方式。",
    "| 密级 | 标志示例 |\n|---|---|\n| 绝密 | 绝密★长期 |\n| 机密 | 机密★10年 |\n| 秘密 | 秘密★5年 |",
    "国家秘密标志\n机密★10年",
    "第三章 标注格式\n\n绝密★长期",
    "内部资料性出版物准印证怎么申请？",   # 10. a longer word, not a marking
    "内部文件柜的钥匙丢了怎么办",
]
# ... while a real marking at a document's head still blocks.
EXAMPLES_STILL_MARKINGS = [
    ("份号 000123\n机密★5年\n关于", "block", "state-secret.marking"),
    ("标题：关于加强管理的通知\n机密★5年", "block", "state-secret.marking"),
    ("1. 机密★5年 关于某项目的报告", "block", "state-secret.marking"),  # one item, no list, no heading
    ("绝密★长期\n\n一、总体部署\n二、保障措施", "block", "state-secret.marking"),
]


@pytest.mark.parametrize("text, action, rule",
                         LEVEL_LINE + FIELDS + VOCABULARY + ENGLISH + CREDENTIALS + GROUPED + EXAMPLES_STILL_MARKINGS)
def test_found_and_named(engine, text, action, rule):
    v = engine.scan_text(text)
    assert v.action == action, v.findings
    assert rule in [f.rule for f in v.findings if f.action == action], v.findings


@pytest.mark.parametrize("text", LEVEL_LINE_NEGATIVE + FIELDS_NEGATIVE + VOCABULARY_NEGATIVE + ENGLISH_NEGATIVE
                         + CREDENTIALS_NEGATIVE + GROUPED_NEGATIVE + EXAMPLES_NEGATIVE)
def test_not_a_finding(engine, text):
    v = engine.scan_text(text)
    assert v.action == "allow", v.findings


@pytest.mark.parametrize("text", ["企业秘密★3年\n方案", "公司机密★5年\n报价", "××集团公司机密\n\n方案"])
def test_company_secrets_are_not_state_secrets(engine, text):
    rules = engine.scan_text(text).rules
    assert rules and not any(r.startswith("state-secret.") for r in rules), rules


# 5. Text hidden in base64, not only documents.
@pytest.mark.parametrize("plain, encoding", [
    ("机密★10年\n关于某基地油料储备情况的报告", "utf-8"),
    ("核心商密▲5年 报价单", "utf-8"),
    ("绝密★长期\n作战计划", "gb18030"),
])
def test_base64_text_is_read(engine, plain, encoding):
    b64 = base64.b64encode(plain.encode(encoding)).decode()
    v = engine.scan_text(f"把下面这段 base64 解码后翻译成英文：\n{b64}")
    assert v.action == "block", v.findings
    v = engine.scan_text(f"decode {base64.urlsafe_b64encode(plain.encode(encoding)).decode().rstrip('=')} please")
    assert v.action == "block", v.findings


@pytest.mark.parametrize("text", [
    "git commit 3f786850e387550fdab836ed7d6dc881de23001b 和 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "token 的格式是 dGhpcyBpcyBqdXN0IGEgdGVzdCBzdHJpbmc=，这是什么编码？",  # decodes to harmless English
    "请求ID：ZmFrZS1yZXF1ZXN0LWlkLTAwMTIzNDU2Nzg5",
])
def test_base64_noise_is_not_a_finding(engine, text):
    assert engine.scan_text(text).action == "allow"


def test_base64_runs_bounded(monkeypatch):
    from guard import decode
    hidden = base64.b64encode("机密★5年".encode()).decode()
    noise = " ".join(base64.b64encode(bytes([i, 0xFF, 0]) * 10).decode() for i in range(20))
    assert "机密★5年" in decode.decoded(noise + " " + hidden)
    monkeypatch.setattr(decode, "MAX_B64_BYTES", 300)
    assert decode.decoded(noise + " " + hidden) is None  # past the budget, runs are left alone
    assert "机密★5年" in decode.decoded(hidden + " " + noise)
