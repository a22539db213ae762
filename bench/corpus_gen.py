"""Deterministic mixed Chinese/English text for benchmarks (prompt- and document-like)."""
from __future__ import annotations

import random

ZH = [
    "关于塔河油田三维地震勘探成果的报告", "经综合解释，目标区块共识别有利圈闭12个", "预测地质储量约3.2亿吨",
    "建议优先部署评价井5口", "本年度计划安排固定资产投资486亿元", "其中新建乙烯项目两个，具体布局见附表",
    "试验表明，在反应温度520℃、剂油比6.5条件下，轻油收率提高2.3个百分点", "请帮我润色下面这份材料",
    "会议讨论了年度安全生产工作", "各单位要严格落实保密工作责任制", "加强商业秘密保护和工作秘密管理",
    "请把这段会议纪要整理成三条要点", "本周完成了装置检修计划，协调了备件采购", "联系人：王工，电话请见通讯录",
    "保密教育月活动在全公司范围内开展", "数字化转型要坚持安全与发展并重",
]
EN = [
    "Please summarize the following report in three bullet points.", "The pipeline throughput rose 4.2% year on year.",
    "Refactor this Python function to use a generator.", "What are the main risks of the new catalyst process?",
    "The confidential computing team reviewed the enclave design.", "Translate the paragraph below into English.",
]


def mixed_text(size_chars: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    out, n = [], 0
    while n < size_chars:
        if rnd.random() < 0.7:
            line = "，".join(rnd.choice(ZH) for _ in range(rnd.randint(1, 4))) + "。"
        else:
            line = " ".join(rnd.choice(EN) for _ in range(rnd.randint(1, 3)))
        if rnd.random() < 0.01:
            line += f" 订单号{rnd.randint(10**17, 10**18 - 1)}"
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)


SECRECY = [
    "国家秘密的密级分为绝密、机密、秘密三级", "工作秘密不属于国家秘密，但泄露后会造成不利影响",
    "商业秘密是指不为公众所知悉、具有商业价值并经权利人采取保密措施的信息",
    "涉密公文应当标注密级和保密期限", "各单位要严格落实保密工作责任制", "严禁在互联网上处理涉密信息",
    "中央企业商业秘密分为核心商密和普通商密两级",
    "定密责任人应当同时确定密级、保密期限和知悉范围", "保密期限届满的，自行解密", "内部资料的管理按照本单位规定执行",
    "不得将工作秘密上传至互联网AI服务", "如何区分国家秘密、工作秘密和商业秘密？", "泄露国家秘密情节严重的依法追究刑事责任",
    "保密宣传教育月活动在全公司范围内开展", "涉密人员离岗离职实行脱密期管理",
]
# Quoted example markings: a page about 保密 quotes one now and then, not in every line.
SECRECY_EXAMPLES = ["公文首页左上角标注“机密★5年”", "密级标志示例：秘密★1年、机密★10年、绝密★长期",
                    "商业秘密标志写作“核心商密▲10年”"]


def secrecy_prose(size_chars: int, seed: int = 11) -> str:
    """Dense 保密 prose: a newspaper page or training text that names every level over and over
    and must pass (the hardest case for a marking detector's speed: keyword hits everywhere)."""
    rnd = random.Random(seed)
    out, n = [], 0
    while n < size_chars:
        line = "，".join(rnd.choice(SECRECY) for _ in range(rnd.randint(1, 3))) + "。"
        if rnd.random() < 0.03:
            line += rnd.choice(SECRECY_EXAMPLES) + "。"
        out.append(line)
        n += len(line) + 1
    return "\n".join(out)
