"""Block and warn responses in the provider's own error shape, or an HTML page."""
from __future__ import annotations

import json
import re

from guard.audit.record import mask_location
from guard.coaching import Advice, Found, message as coach_message, page
from guard.display import Names
from guard.types import Verdict


def _enforced(verdict: Verdict):
    return [f for f in verdict.findings if f.mode == "enforce"] or list(verdict.findings)


def message(verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None, names: Names | None = None,
            advice: Advice | None = None, web_app: bool = False) -> str:
    """What happened, why and what to do instead, in one message (an SDK error's text, a web
    app's reply): rule names from the policy, the office's contact and in-house model."""
    names = names or Names()
    found = _enforced(verdict)
    return coach_message(verdict.action if verdict.action == "warn" else "block",
                         [names.title(f.rule) for f in found], event_id, advice or Advice(contact), ack_url,
                         web_app, [f.rule for f in found], found[0].location if found else "")


def error_body(shape: str, verdict: Verdict, event_id: str, contact: str, ack_url: str | None = None,
               names: Names | None = None, advice: Advice | None = None, web_app: bool = False) -> dict:
    msg = message(verdict, event_id, contact, ack_url, names, advice, web_app)
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
              service: str = "", names: Names | None = None, advice: Advice | None = None,
              web_app: bool = True) -> str:
    """A page load that was stopped: the coaching page (a warning links to its confirm form)."""
    found = [Found(f.rule, f.description, f.excerpt, mask_location(f.location)) for f in _enforced(verdict)]
    return page(verdict.action, found, event_id, contact, why, service, None, "", names, advice or Advice(contact),
                web_app, ack_url)


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
           ack_url: str | None = None, answer=None, why: str = "", service: str = "", policy=None,
           web_app: bool | None = None) -> tuple[int, bytes, dict]:
    """(status, body, headers): an HTML page for a page load; the web app's own shape for its
    conversation endpoints (`answer`, from the catalog); else the provider's JSON error.
    `policy` gives the rule names and the office's advice (contact, in-house model); `web_app`
    (default: a page load or a web app's answer) adds the advice to start a new conversation."""
    names = Names(policy) if policy is not None else Names()
    advice = Advice.of(policy.settings) if policy is not None else Advice(contact)
    if web_app is None:
        web_app = navigation or answer is not None
    headers = {
        "X-AI-Guard-Action": verdict.action if verdict.action in ("warn", "block") else "block",
        "X-AI-Guard-Event": event_id,
        "Cache-Control": "no-store",
    }
    if ack_url:
        headers["X-AI-Guard-Ack"] = ack_url
    if navigation:
        headers["Content-Type"] = "text/html; charset=utf-8"
        return 403, html_page(verdict, event_id, contact, ack_url, why, service, names, advice, web_app).encode(), headers
    if answer is not None:
        headers["Content-Type"] = answer.content_type
        text = fill(answer.body, {"message": message(verdict, event_id, contact, ack_url, names, advice, web_app),
                                  "event_id": event_id, "ack_url": ack_url or ""})
        return answer.status, text.encode(), headers
    headers["Content-Type"] = "application/json"
    body = json.dumps(error_body(shape, verdict, event_id, contact, ack_url, names, advice, web_app),
                      ensure_ascii=False).encode()
    return 403, body, headers


def upstream_error_text(service: str, host: str, cause: str, event_id: str) -> str:
    name = service or host or "AI 服务"
    return (f"[AI-Guard] 暂时无法连接到 {name}（{host}）：{cause}。您的内容已通过检查、没有被拦截，"
            f"只是该服务现在无法访问。请稍后重试；如一直如此，请联系本单位网络管理员。"
            + (f"事件编号 {event_id}。" if event_id else "")
            + f" / The AI service {host} cannot be reached right now ({cause}); your request was not blocked. "
              "Please try again later.")


def upstream_error_body(event_id: str, host: str, service: str, shape: str, cause: str, navigation: bool) -> bytes:
    """The answer when an allowed request's AI service cannot be reached: a short page for a
    browser, the provider's own error shape for an SDK (which shows the message)."""
    text = upstream_error_text(service, host, cause, event_id)
    if navigation or not shape:
        from guard.coaching import notice_page

        return notice_page("暂时无法连接到 AI 服务 / The AI service cannot be reached",
                           [text.split(" / ")[0], "这不是保密检查的结果，无需确认。 / This is not a block by the guard."],
                           "本单位网络管理员").encode()
    if shape == "anthropic":
        body = {"type": "error", "error": {"type": "api_error", "message": text}}
    elif shape == "gemini":
        body = {"error": {"code": 502, "message": text, "status": "UNAVAILABLE"}}
    else:
        body = {"error": {"message": text, "type": "upstream_unreachable", "code": "ai_guard_upstream_unreachable"}}
    return json.dumps(body, ensure_ascii=False).encode()
