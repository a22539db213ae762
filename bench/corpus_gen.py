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
