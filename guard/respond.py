"""Block and warn responses in the provider's own error shape, or an HTML page."""
from __future__ import annotations

import html
import json

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


def html_page(verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None) -> str:
    zh, en = _why(verdict)
    e = html.escape
    title_zh = "请确认后再发送" if verdict.action == "warn" else "请求已被拦截"
    ack = (f'<p><a href="{e(ack_url)}">我已确认内容可以发送（10 分钟内重试有效） / I confirm, let me retry</a></p>'
           if ack_url else "")
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>AI-Guard: {e(title_zh)}</title></head>
<body style="font-family:sans-serif;max-width:42em;margin:3em auto">
<h1>{e(title_zh)}</h1>
<p>您发往互联网 AI 服务的内容中检测到{e(zh)}。涉密不上网、上网不涉密。</p>
<p>事件编号：<code>{e(event_id)}</code>。如有疑问请联系{e(contact)}。</p>
{ack}
<hr><h2 lang="en">{"Please confirm before sending" if verdict.action == "warn" else "Request blocked"}</h2>
<p lang="en">The AI-usage guard found {e(en)} in what you sent to an internet AI service.
Event <code>{e(event_id)}</code>. Contact: {e(contact)}.</p>
</body></html>"""


def is_navigation(headers) -> bool:
    mode = headers.get("sec-fetch-mode", "")
    if mode:
        return mode == "navigate"
    return "text/html" in headers.get("accept", "")


def render(shape: str, verdict: Verdict, event_id: str, contact: str, navigation: bool,
           ack_url: str | None = None) -> tuple[int, bytes, dict]:
    headers = {
        "X-AI-Guard-Action": verdict.action if verdict.action in ("warn", "block") else "block",
        "X-AI-Guard-Event": event_id,
        "Cache-Control": "no-store",
    }
    if ack_url:
        headers["X-AI-Guard-Ack"] = ack_url
    if navigation:
        headers["Content-Type"] = "text/html; charset=utf-8"
        return 403, html_page(verdict, event_id, contact, ack_url).encode(), headers
    headers["Content-Type"] = "application/json"
    body = json.dumps(error_body(shape, verdict, event_id, contact, ack_url), ensure_ascii=False).encode()
    return 403, body, headers
