"""Generated 公文-style reports of one company and genre: the same formulaic openings, units
and phrases, each report with its own facts. Two reports share phrases, never a passage of
50 characters (checked, not assumed)."""
from __future__ import annotations

import random

UNITS = ["集团公司", "勘探与生产分公司", "西北油田分公司", "塔河采油厂", "勘探开发研究院", "工程技术研究院", "炼化工程集团",
         "物资装备部", "财务部", "安全环保部", "规划计划部", "科技部", "人力资源部", "审计部", "销售分公司"]
OPENINGS = ["为深入贯彻落实集团公司工作会议精神", "根据集团公司年度工作部署", "按照上级有关要求", "为进一步加强", "经研究决定",
            "现将有关情况报告如下", "现将有关事项通知如下", "为切实做好", "根据工作需要", "按照年初确定的工作目标"]
PHRASES = ["高度重视", "认真贯彻落实", "切实加强组织领导", "明确责任分工", "确保各项任务按期完成", "进一步提高思想认识",
           "强化责任担当", "狠抓工作落实", "取得了阶段性成效", "存在的主要问题", "下一步工作打算", "持续深化改革",
           "坚持问题导向", "统筹推进各项工作", "扎实开展专项检查", "严格执行有关规定", "建立健全长效机制",
           "加大督促检查力度", "及时总结经验做法", "确保安全平稳运行", "全面完成年度目标任务", "提质增效取得新进展",
           "推动高质量发展", "请各单位结合实际", "认真组织实施", "并于月底前报送", "特此报告", "妥否，请批示", "以上报告，请审阅",
           "经综合分析研判", "主要工作情况", "总体来看", "同比增长", "环比下降", "完成年度计划的", "按照时间节点要求"]
CLOSINGS = ["特此报告。", "妥否，请批示。", "以上报告，请审阅。", "请各单位认真贯彻执行。"]
CONTENT = ("储量产量投资成本效益井位钻井压裂注水管线装置检修催化裂化乙烯芳烃炼油化工销售库存价格合同客户招标采购设备"
           "人员培训考核安全环保隐患整改质量计量标准科研专利成果试验方案评价预算资金审计风险内控合规数据系统平台网络"
           "区块油田气田盆地构造圈闭地震测井录井试油开发方案产能建设采收率含水率递减率单井日产累计新增探明控制预测")
NUMS = "一二三四五六七八九十百千万亿点"


def _fact(rnd: random.Random) -> str:
    """A sentence of this report's own: its facts, figures and names."""
    words = ["".join(rnd.choice(CONTENT) for _ in range(rnd.choice((2, 2, 3, 4)))) for _ in range(rnd.randint(3, 6))]
    num = "".join(rnd.choice(NUMS) for _ in range(rnd.randint(2, 4)))
    return f"{rnd.choice(UNITS)}{words[0]}{words[1]}{num}{rnd.choice(['万吨', '亿元', '口', '项', '个百分点'])}，" \
           + "".join(words[2:]) + "。"


def report(rnd: random.Random, chars: int = 1800) -> str:
    unit = rnd.choice(UNITS)
    out = [f"关于{unit}{''.join(rnd.choice(CONTENT) for _ in range(4))}工作情况的报告\n{rnd.choice(UNITS)}：\n",
           f"{rnd.choice(OPENINGS)}，{rnd.choice(OPENINGS)}。"]
    while sum(map(len, out)) < chars:
        if rnd.random() < 0.5:
            out.append("，".join(rnd.sample(PHRASES, rnd.randint(1, 3))) + "。")
        else:
            out.append(_fact(rnd))
    out.append(rnd.choice(CLOSINGS))
    return "".join(out)


def grams(text: str, n: int = 50) -> set[str]:
    from guard.match.hashing import normalize
    t = normalize(text)
    return {t[i:i + n] for i in range(len(t) - n + 1)}


def corpus(seed: int, registered: int = 100, unregistered: int = 20) -> tuple[list[str], list[str]]:
    """(registered, unregistered) reports; no unregistered one shares 50 characters with a registered one."""
    rnd = random.Random(seed)
    reg = [report(rnd) for _ in range(registered)]
    seen = set().union(*(grams(t) for t in reg))
    other = []
    while len(other) < unregistered:
        t = report(rnd)
        if not grams(t) & seen:
            other.append(t)
    return reg, other
