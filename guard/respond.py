"""Block and warn responses in the provider's own error shape, or an HTML page."""
from __future__ import annotations

import json
import re

from guard.audit.record import mask_location
from guard.coaching import Found, page

from guard.types import Verdict

_RULE_NAMES_ZH = {
    "state-secret": "国家秘密标志", "commercial-secret": "商业秘密标志", "work-secret": "工作秘密标志",
    "internal": "内部资料标志", "credential": "密钥或口令", "pii": "个人信息", "geo": "高精度坐标",
    "uninspectable": "无法检查的内容", "custom": "登记的敏感名称", "audit": "审计日志不可用",
    "access": "本单位对该 AI 服务的使用限制",
}


def _why(verdict: Verdict) -> tuple[str, str]:
    f = verdict.findings[0] if verdict.findings else None
    if f is None:
        return "未知原因", "unknown reason"
    family = f.rule.split(".", 1)[0]
    zh = f"{_RULE_NAMES_ZH.get(family, f.rule)}（规则 {f.rule}，位置 {f.location}）"
    en = f"rule {f.rule} at {f.location}"
    return zh, en


def message(verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None) -> str:
    zh, en = _why(verdict)
    if verdict.action == "warn":
        text = (f"[AI-Guard] 警告：请求中检测到{zh}。若确认内容可以发往互联网 AI 服务，请打开 {ack_url} 确认后重试（10 分钟内有效）。"
                f"事件编号 {event_id}。如有疑问请联系{contact}。 / "
                f"Warning from the AI-usage guard: {en}. To send it anyway, open {ack_url} and retry. Event {event_id}.")
    else:
        text = (f"[AI-Guard] 已拦截：请求中检测到{zh}，涉密不上网、上网不涉密。事件编号 {event_id}。如有疑问请联系{contact}。 / "
                f"Blocked by the AI-usage guard: {en}. Event {event_id}. Contact: {contact}.")
    return text


def error_body(shape: str, verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None) -> dict:
    msg = message(verdict, event_id, contact, ack_url)
    code = "ai_guard_warning" if verdict.action == "warn" else "ai_guard_blocked"
    if shape == "anthropic":
        return {"type": "error", "error": {"type": "permission_error", "message": msg}}
    if shape == "gemini":
        return {"error": {"code": 403, "message": msg, "status": "PERMISSION_DENIED"}}
    body = {"error": {"message": msg, "type": "permission_error", "code": code}}
    if ack_url:
        body["error"]["ack_url"] = ack_url
    return body


def html_page(verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None, why: str = "",
              service: str = "") -> str:
    """A page load that was stopped: the coaching page (a warning links to its confirm form)."""
    found = [Found(f.rule, f.description, f.excerpt, mask_location(f.location)) for f in verdict.findings
             if f.mode == "enforce"]
    notice = (f"确认后可以发送：{ack_url} / to send it anyway, confirm at {ack_url}" if ack_url else "")
    return page(verdict.action, found, event_id, contact, why, service, None, notice)


_SLOT = re.compile(r"\{\{(message|event_id|ack_url)(?::([1-3]))?\}\}")


def fill(template: str, values: dict[str, str]) -> str:
    """Put values into an answer template, JSON-escaped (N times for JSON nested in strings)."""
    def one(m: re.Match) -> str:
        v = values.get(m.group(1)) or ""
        for _ in range(int(m.group(2) or 1)):
            v = json.dumps(v, ensure_ascii=False)[1:-1]
        return v
    return _SLOT.sub(one, template)


def is_navigation(headers) -> bool:
    mode = headers.get("sec-fetch-mode", "")
    if mode:
        return mode == "navigate"
    return "text/html" in headers.get("accept", "")


def render(shape: str, verdict: Verdict, event_id: str, contact: str, navigation: bool,
           ack_url: str | None = None, answer=None, why: str = "", service: str = "") -> tuple[int, bytes, dict]:
    """(status, body, headers): an HTML page for a page load; the web app's own shape for its
    conversation endpoints (`answer`, from the catalog); else the provider's JSON error."""
    headers = {
        "X-AI-Guard-Action": verdict.action if verdict.action in ("warn", "block") else "block",
        "X-AI-Guard-Event": event_id,
        "Cache-Control": "no-store",
    }
    if ack_url:
        headers["X-AI-Guard-Ack"] = ack_url
    if navigation:
        headers["Content-Type"] = "text/html; charset=utf-8"
        return 403, html_page(verdict, event_id, contact, ack_url, why, service).encode(), headers
    if answer is not None:
        headers["Content-Type"] = answer.content_type
        text = fill(answer.body, {"message": message(verdict, event_id, contact, ack_url), "event_id": event_id,
                                  "ack_url": ack_url or ""})
        return answer.status, text.encode(), headers
    headers["Content-Type"] = "application/json"
    body = json.dumps(error_body(shape, verdict, event_id, contact, ack_url), ensure_ascii=False).encode()
    return 403, body, headers
