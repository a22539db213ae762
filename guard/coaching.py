"""The page a person sees in the browser: what was found, why it matters, what to do, whom to ask.

A warning's link opens it with a confirm form (POST, with a CSRF token: a link preview or a
prefetch GETs the page but never acknowledges); a blocked page load shows it without the form.
Only metadata reaches it: rule descriptions, masked excerpts, locations, the event id.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

_FAMILY_ZH = {
    "state-secret": "国家秘密标志", "commercial-secret": "商业秘密标志", "work-secret": "工作秘密标志",
    "internal": "内部资料标志", "credential": "密钥或口令", "pii": "成批个人信息", "geo": "高精度坐标",
    "uninspectable": "无法检查的内容", "custom": "本单位登记的敏感名称", "audit": "审计日志不可用",
    "access": "本单位对该 AI 服务的使用限制",
}
_INSTEAD = ("不要把原文发给互联网 AI。可以改用本单位批准的内部大模型，或删去带标志的内容、用不含敏感信息的示例重新提问。",
            "Do not send the original to an internet AI service. Use the organisation's approved in-house "
            "model, or remove the marked content and ask with an example that holds nothing sensitive.")


@dataclass(frozen=True)
class Found:
    rule: str
    description: str
    excerpt: str
    location: str


def family_zh(rule: str) -> str:
    return _FAMILY_ZH.get(rule.split(".", 1)[0], rule)


def page(action: str, found: list[Found], event_id: str, contact: str, why: str, service: str = "",
         form: dict | None = None, notice: str = "") -> str:
    """`form`: {"action": URL, "csrf": TOKEN, "reasons": [...], "approval": bool} for a warning
    that may be acknowledged (or submitted for approval); None for a block page."""
    e = html.escape
    warn = action == "warn"
    title = ("请确认后再发送 / Please confirm before sending" if warn
             else "请求已被拦截 / Request blocked")
    rows = "".join(
        f"<tr><td>{e(family_zh(f.rule))}<br><small><code>{e(f.rule)}</code></small></td>"
        f"<td>{e(f.description)}</td><td><code>{e(f.excerpt)}</code></td><td><small>{e(f.location)}</small></td></tr>"
        for f in found[:20])
    where = f"发往 {e(service)} 的" if service else "发往互联网 AI 服务的"
    body = [f"<h1>{e(title)}</h1>"]
    if notice:
        body.append(f'<p class="notice">{e(notice)}</p>')
    body.append(f"<p>您{where}内容中检测到以下信息。涉密不上网、上网不涉密。<br>"
                f"<span lang=\"en\">The AI-usage guard found the following in what you sent{' to ' + e(service) if service else ''}.</span></p>")
    body.append('<table><thead><tr><th>类别 / kind</th><th>说明 / rule</th><th>内容 / excerpt</th>'
                f'<th>位置 / where</th></tr></thead><tbody>{rows}</tbody></table>')
    if why:
        body.append(f"<h2>为什么 / Why it matters</h2><p>{e(why)}</p>")
    body.append(f"<h2>怎么办 / What to do instead</h2><p>{e(_INSTEAD[0])}<br><span lang=\"en\">{e(_INSTEAD[1])}</span></p>")
    if form:
        approval = form.get("approval")
        reasons = "".join(
            f'<label><input type="radio" name="reason" value="{e(r)}" required> {e(r)}</label><br>'
            for r in form.get("reasons") or ())
        verb = ("提交审批 / Submit for approval" if approval
                else "我已确认，可以发送 / I confirm: this may be sent")
        lead = ("此类内容需经保密办批准后才能发送。请说明理由并提交，批准后重试原请求即可。"
                if approval else "如确认内容可以发往互联网 AI 服务，请选择理由并确认，然后重试原请求（同一内容在有效期内不再提示）。")
        body.append(
            f'<h2>确认 / Confirm</h2><p>{e(lead)}</p>'
            f'<form method="post" action="{e(form["action"])}">'
            f'<input type="hidden" name="csrf" value="{e(form["csrf"])}">{reasons}'
            '<label>其他理由 / other reason: <input type="text" name="note" maxlength="200" size="40"></label><br>'
            f'<button type="submit">{e(verb)}</button></form>')
    body.append(f"<p>事件编号 / event: <code>{e(event_id)}</code>。如有疑问请联系 / questions: {e(contact)}。</p>")
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>AI-Guard: {e(title)}</title>
<style>body{{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:52em;margin:2em auto;padding:0 1em;color:#222}}
h1{{color:{"#a15c00" if warn else "#b00020"}}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}}
.notice{{background:#eef6ee;padding:.6em;border-left:4px solid #2e7d32}}button{{margin-top:.8em;padding:.5em 1.2em}}</style></head>
<body>{"".join(body)}</body></html>"""
