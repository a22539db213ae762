"""What people read: times in the office's zone, action words and rule names in Chinese.

The audit trail keeps UTC (`...Z`); every view (console, report, exports, `guard audit`)
shows and filters in one configured zone: `--tz`, else the environment's `GUARD_TZ`, else
Asia/Shanghai. A day given on a command line or in a filter is a calendar day in that zone.

Rule names come from the policy (`title`, `category` of each rule, so custom rules have their
own); a rule the policy does not know (an old record, a rule since removed) falls back to a
name for its family (`state-secret.*` -> 国家秘密标志), so no view shows a bare id.
"""
from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guard.errors import GuardError

DEFAULT_ZONE = "Asia/Shanghai"
UTC = dt.timezone.utc

ACTIONS_ZH = {"block": "拦截", "warn": "警告", "allow": "放行", "redact": "脱敏", "pseudonymise": "假名化", "log": "记录",
              "ack": "确认", "pending_approval": "待审批", "gap": "记录缺口", "monitor": "试运行"}
ACTIONS_EN = {"block": "blocked", "warn": "warned", "allow": "allowed", "redact": "redacted", "pseudonymise": "pseudonymised", "log": "logged",
              "ack": "acknowledged", "pending_approval": "pending approval", "gap": "gap", "monitor": "monitor"}

SEVERITIES_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低", "info": "提示"}

# family prefix -> (title, category): the name people use at work, until the policy gives one.
FAMILIES = {
    "state-secret": ("国家秘密标志", "国家秘密"),
    "work-secret": ("工作秘密标志", "工作秘密"),
    "commercial-secret": ("商业秘密标志", "商业秘密"),
    "internal": ("内部资料标志", "内部资料"),
    "credential": ("密钥或口令", "密钥口令"),
    "pii": ("个人信息", "个人信息"),
    "geo": ("高精度坐标", "地理信息"),
    "registered": ("登记的涉密文档内容", "登记文档"),
    "custom": ("本单位登记的敏感名称", "敏感名称"),
    "uninspectable": ("无法检查的内容", "无法检查"),
    "audit": ("审计日志不可用", "系统"),
    "access": ("本单位对该 AI 服务的使用限制", "访问限制"),
    "shadow": ("未登记的 AI 服务", "访问限制"),
}


# -- time ------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def zone(name: str | None = None) -> dt.tzinfo:
    """The configured zone: `name`, else $GUARD_TZ, else Asia/Shanghai; "UTC" for engineers."""
    name = (name or os.environ.get("GUARD_TZ") or DEFAULT_ZONE).strip()
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise GuardError(f"time zone {name!r} is unknown (an IANA name such as Asia/Shanghai, or UTC)") from None


def zone_label(tz: dt.tzinfo) -> str:
    """How a column header names the zone: 北京时间 for Asia/Shanghai, else its name."""
    key = getattr(tz, "key", None)
    if tz is UTC:
        return "UTC"
    return "北京时间" if key in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else (key or str(tz))


def parse_ts(ts: str) -> dt.datetime | None:
    """A record's `ts` (UTC, `...Z` or with an offset) as an aware datetime; None when unreadable."""
    if not ts:
        return None
    try:
        t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00") if ts.endswith("Z") else ts)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def local(ts: str, tz: dt.tzinfo) -> dt.datetime | None:
    t = parse_ts(ts)
    return t.astimezone(tz) if t else None


def local_text(ts: str, tz: dt.tzinfo, seconds: bool = True) -> str:
    """`2026-11-27 08:30:05` in the zone; the raw value when it is no time."""
    t = local(ts, tz)
    if t is None:
        return ts or ""
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_day(ts: str, tz: dt.tzinfo) -> str:
    """The calendar day (YYYY-MM-DD) in the zone on which this UTC time falls."""
    t = local(ts, tz)
    return t.date().isoformat() if t else (ts or "")[:10]


def excel_time(ts: str, tz: dt.tzinfo) -> dt.datetime | None:
    """A naive local datetime: what a spreadsheet cell holds (Excel has no zones)."""
    t = local(ts, tz)
    return t.replace(tzinfo=None, microsecond=t.microsecond // 1000 * 1000) if t else None


def _utc_text(t: dt.datetime) -> str:
    # The trail's own form (milliseconds, Z), so that bounds compare as strings with `ts`.
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.astimezone(UTC).microsecond // 1000:03d}Z"


def bound(value: str | None, tz: dt.tzinfo, end: bool = False) -> str | None:
    """A --since/--until (or filter) value as a UTC bound comparable with `ts`.

    A day (2026-11-27) is that calendar day in the zone: its first instant, or for `end` its
    last millisecond. A time without an offset is a time in the zone; one with Z or an offset
    means what it says."""
    if not value:
        return None
    v = value.strip()
    try:
        if len(v) == 10:
            d = dt.date.fromisoformat(v)
            start = dt.datetime.combine(d, dt.time(), tz)
            if end:
                start = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tz) - dt.timedelta(milliseconds=1)
            return _utc_text(start)
        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00") if v.endswith("Z") else v)
    except ValueError:
        raise GuardError(f"{value!r} is not a day (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    if end and t.second == 0 and t.microsecond == 0 and len(v) <= 16:
        t += dt.timedelta(seconds=59, microseconds=999000)  # "until 08:30" includes 08:30:xx
    return _utc_text(t)


def today(tz: dt.tzinfo) -> dt.date:
    return dt.datetime.now(tz).date()


# -- words ------------------------------------------------------------------------------------
def severity_word(severity: str | None, lang: str = "zh") -> str:
    return (severity or "") if lang == "en" else SEVERITIES_ZH.get(severity or "", severity or "")


def action_word(action: str | None, lang: str = "zh") -> str:
    words = ACTIONS_EN if lang == "en" else ACTIONS_ZH
    return words.get(action or "", action or "")


class Names:
    """Rule id -> (title, category), from a policy, with the family names underneath."""

    def __init__(self, policy=None):
        self._rules: dict[str, tuple[str, str]] = {}
        if policy is not None:
            for r in policy.rules:
                self._rules[r.id] = (getattr(r, "title", ""), getattr(r, "category", ""))

    @classmethod
    def load(cls, path: str | None = None) -> "Names":
        """The names of the policy at `path` (default: the default policy). A policy that does not
        load leaves the family names: a view must not fail for want of a name."""
        from guard.policy.loader import load_policy

        try:
            return cls(load_policy(path))
        except GuardError:
            if path:  # the user named it: say so, in one line
                raise
            return cls()

    def title(self, rule_id: str) -> str:
        own = self._rules.get(rule_id, ("", ""))[0]
        if own:
            return own
        fam = FAMILIES.get(rule_id.split(".", 1)[0])
        return fam[0] if fam else rule_id

    def category(self, rule_id: str) -> str:
        own = self._rules.get(rule_id, ("", ""))[1]
        if own:
            return own
        fam = FAMILIES.get(rule_id.split(".", 1)[0])
        return fam[1] if fam else "其他"

    def label(self, rule_id: str, lang: str = "zh") -> str:
        """`国家秘密标志（state-secret.marking）`: the name first, the id as a detail."""
        t = self.title(rule_id)
        if lang == "en" or t == rule_id:
            return rule_id
        return f"{t}（{rule_id}）"

    def titles(self, rule_ids, lang: str = "zh") -> str:
        """Several rules' names, each once, in order: 国家秘密标志、内部资料标志."""
        if lang == "en":
            return ", ".join(dict.fromkeys(rule_ids))
        return "、".join(dict.fromkeys(self.title(r) for r in rule_ids))
