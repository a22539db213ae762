"""What the person who was stopped reads: what happened, why it matters, what to do instead,
whom to ask — in the browser (the coaching page) and in the one-line messages SDKs and web
apps show.

A warning's link opens the page with a confirm form (POST, with a CSRF token: a link preview or
a prefetch GETs the page but never acknowledges); a blocked page load shows it without the form.
Only metadata reaches it: rule names and descriptions, masked excerpts, locations, the event id.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from guard.display import FAMILIES, Names


@dataclass(frozen=True)
class Found:
    rule: str
    description: str
    excerpt: str
    location: str


@dataclass(frozen=True)
class Advice:
    """The office's words for what to do instead (from the policy's settings)."""
    contact: str = ""
    internal_name: str = ""      # the approved in-house model, if there is one
    internal_url: str = ""

    @classmethod
    def of(cls, settings) -> "Advice":
        name, url = getattr(settings, "internal_model", ("", "")) or ("", "")
        return cls(getattr(settings, "contact", "") or "", name, url)


def family_zh(rule: str) -> str:
    fam = FAMILIES.get(rule.split(".", 1)[0])
    return fam[0] if fam else rule


def _contact(advice: Advice) -> str:
    return advice.contact or "本单位保密办"


def steps(action: str, advice: Advice, web_app: bool = False, rules=(), here: bool = False) -> list[str]:
    """What to do instead, in order. `web_app`: the app resends the whole conversation with
    every question, so a flagged passage once in it stops every later question too."""
    out = []
    if any(r.startswith("uninspectable.") for r in rules):
        out.append("这个文件无法检查（加密、损坏、过大或格式不支持），因此不能发出：请改为发送可以检查的、"
                   "不含敏感内容的文本或文件。")
    if any(r.startswith("credential.") for r in rules):
        out.append("删去密钥、口令或令牌（用 *** 或示例值代替）后再提问；已经发出过的密钥请尽快更换。")
    out.append("删去或替换被标出的部分（密级标志、内部标志、文件名、个人信息等），只保留可以公开的内容，再重新提问。")
    if advice.internal_name or advice.internal_url:
        name = advice.internal_name or "本单位内部大模型"
        out.append(f"需要处理原文时，请改用本单位批准的内部大模型「{name}」"
                   + (f"（{advice.internal_url}）" if advice.internal_url else "") + "。")
    if web_app:
        out.append("网页版 AI 每次提问都会把整段对话重新发送：请新建一个对话后再提问，"
                   "否则在原对话里的后续提问仍会被拦截。")
    if action == "warn":
        out.append("如果确认内容可以发往互联网 AI 服务，请在下方说明理由并确认，然后重试。" if here else
                   "如果确认内容可以发往互联网 AI 服务，请打开确认链接说明理由后重试。")
    out.append(f"拿不准或确需发送时，请联系{_contact(advice)}。")
    return out


def message(action: str, names: list[str], event_id: str, advice: Advice, ack_url: str | None = None,
            web_app: bool = False, rules=(), where: str = "") -> str:
    """The message an SDK's error or a web app's reply shows: what happened, why, what to do."""
    what = "、".join(dict.fromkeys(names)) or "敏感内容"
    detail = "，".join(x for x in ("规则 " + ", ".join(dict.fromkeys(rules)) if rules else "",
                                   f"位置 {where}" if where else "") if x)
    at = f"（{detail}）" if detail else ""
    if action == "warn":
        head = (f"[AI-Guard] 警告，请先确认：您要发送的内容中有{what}{at}。内容一旦发往互联网 AI 服务便无法收回，"
                f"所以发送前需要您确认。")
    else:
        head = f"[AI-Guard] 已拦截：您要发送的内容中有{what}{at}。涉密不上网、上网不涉密，这类内容不能发往互联网 AI 服务。"
    todo = "".join(f"{i}. {s}" for i, s in enumerate(steps(action, advice, web_app, rules), start=1))
    link = f"确认链接：{ack_url} 。" if ack_url else ""
    en = ("Warning from the AI-usage guard: confirm before sending" if action == "warn"
          else "Blocked by the AI-usage guard") + (f"; to send anyway, confirm at {ack_url}" if ack_url else "")
    return f"{head}怎么办：{todo}{link}事件编号 {event_id}。 / {en}. Event {event_id}."


def _doc(title: str, color: str, body: str) -> str:
    e = html.escape
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>AI-Guard: {e(title)}</title>
<style>body{{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:52em;margin:2em auto;padding:0 1em;color:#222;line-height:1.55}}
h1{{color:{color}}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}}
.notice{{background:#eef6ee;padding:.6em;border-left:4px solid #2e7d32}}.calm{{background:#eef3fa;padding:.6em;border-left:4px solid #1565c0}}
button,a.button{{display:inline-block;margin-top:.8em;padding:.5em 1.2em;font-size:1em;cursor:pointer}}
a.button{{background:#1565c0;color:#fff;text-decoration:none;border-radius:3px}}small{{color:#666}}ol li{{margin:.3em 0}}</style></head>
<body>{body}</body></html>"""


def page(action: str, found: list[Found], event_id: str, contact: str, why: str, service: str = "",
         form: dict | None = None, notice: str = "", names: Names | None = None, advice: Advice | None = None,
         web_app: bool = False, ack_url: str | None = None, error: str = "") -> str:
    """`form`: {"action": URL, "csrf": TOKEN, "reasons": [...], "approval": bool} for a warning
    that may be acknowledged (or submitted for approval); None for a block page. `ack_url`: a
    link to that form (a browser's page load of a warned request)."""
    e = html.escape
    names = names or Names()
    advice = advice or Advice(contact)
    warn = action == "warn"
    title = ("请先确认再发送 / Please confirm before sending" if warn
             else "请求已被拦截 / Request blocked")
    rows = "".join(
        f"<tr><td>{e(names.title(f.rule))}<br><small><code>{e(f.rule)}</code></small></td>"
        f"<td>{e(f.description)}</td><td>{'<code>' + e(f.excerpt) + '</code>' if f.excerpt else ''}</td>"
        f"<td><small>{e(f.location)}</small></td></tr>"
        for f in found[:20])
    where = f"发往 {e(service)} 的" if service else "发往互联网 AI 服务的"
    body = [f"<h1>{e(title)}</h1>"]
    if notice:
        body.append(f'<p class="notice">{e(notice)}</p>')
    if error:
        body.append(f'<p class="calm" id="error">{e(error)}</p>')
    body.append("<h2>发生了什么 / What happened</h2>")
    if found:
        body.append(f"<p>您{where}内容中有以下信息，{'发送前需要您确认' if warn else '因此没有发出'}。<br>"
                    f"<span lang=\"en\">The AI-usage guard found the following in what you sent"
                    f"{' to ' + e(service) if service else ''}.</span></p>")
        body.append('<table><thead><tr><th>类别 / kind</th><th>说明 / rule</th><th>内容（已遮盖）/ excerpt</th>'
                    f'<th>位置 / where</th></tr></thead><tbody>{rows}</tbody></table>')
    else:
        body.append(f"<p>您{where}请求{'需要确认' if warn else '没有发出'}。</p>")
    body.append(f"<h2>为什么 / Why it matters</h2><p>{e(why or '涉密不上网、上网不涉密：内容一旦发往互联网 AI 服务便无法收回。')}</p>")
    todo = "".join(f"<li>{e(s)}</li>" for s in steps(action, advice, web_app, [f.rule for f in found], bool(form)))
    if advice.internal_url:
        todo = todo.replace(e(f"（{advice.internal_url}）"),
                            f'（<a href="{e(advice.internal_url)}">{e(advice.internal_url)}</a>）')
    body.append(f'<h2>怎么办 / What to do instead</h2><ol id="steps">{todo}</ol>')
    if ack_url and not form:
        body.append(f'<p><a class="button" id="ack" href="{e(ack_url)}">说明理由并确认 / Review and confirm</a></p>')
    if form:
        approval = form.get("approval")
        reasons = "".join(
            f'<label><input type="radio" name="reason" value="{e(r)}"> {e(r)}</label><br>'
            for r in form.get("reasons") or ())
        verb = ("提交审批 / Submit for approval" if approval
                else "我已确认，可以发送 / I confirm: this may be sent")
        lead = ("此类内容需经保密办批准后才能发送。请说明理由并提交，批准后重试原请求即可。"
                if approval else "如确认内容可以发往互联网 AI 服务，请选择一个理由或写下您的理由并确认，然后重试原请求"
                                 "（同一内容在有效期内不再提示）。")
        body.append(
            f'<h2>确认 / Confirm</h2><p>{e(lead)}</p>'
            f'<form method="post" action="{e(form["action"])}">'
            f'<input type="hidden" name="csrf" value="{e(form["csrf"])}">{reasons}'
            '<label>理由 / reason: <input type="text" name="note" maxlength="200" size="40"></label><br>'
            f'<button type="submit">{e(verb)}</button></form>')
    body.append(f"<p>事件编号 / event: <code>{e(event_id)}</code>。如有疑问请联系 / questions: {e(_contact(advice))}。</p>")
    return _doc(title, "#a15c00" if warn else "#b00020", "".join(body))


def notice_page(title: str, paragraphs: list[str], contact: str) -> str:
    """A calm page with no findings: a link already used, or expired."""
    e = html.escape
    body = f"<h1>{e(title)}</h1>" + "".join(f'<p class="calm">{e(p)}</p>' if i == 0 else f"<p>{e(p)}</p>"
                                             for i, p in enumerate(paragraphs))
    body += f"<p>如有疑问请联系 / questions: {e(contact or '本单位保密办')}。</p>"
    return _doc(title, "#1565c0", body)
