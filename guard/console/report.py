"""The monthly 保密 report: totals and trend against the previous period, charts, top rules,
providers and departments, the blocked events, acknowledgements with reasons, and an integrity
statement naming each chain's head hash and the verification result; a line to sign.

Every number comes from the trail (`guard.audit.query.records`); nothing else goes in."""
from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from guard.audit.chain import load_key, log_files, verify
from guard.audit.query import is_background, records
from guard.console.charts import hbars, stacked_bars
from guard.display import Names, action_word, bound, excel_time, local_day, local_text, zone, zone_label
from guard.errors import GuardError

DECIDED = ("allow", "warn", "redact", "block")


def _day(v: str) -> dt.date:
    try:
        return dt.date.fromisoformat(v[:10])
    except ValueError:
        raise GuardError(f"{v!r} is not a date (YYYY-MM-DD)") from None


def chain_status(audit_dirs: list[str], key_file: str | None = None) -> list[dict]:
    key = load_key(key_file)
    out = []
    for d in audit_dirs:
        gaps: list[str] = []
        count, broken = verify(d, key, gaps)
        last = None
        for f in reversed(log_files(Path(d))):
            lines = [ln for ln in f.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
            if lines:
                try:
                    last = json.loads(lines[-1])
                except ValueError:
                    pass
                break
        out.append({"dir": d, "node": (last or {}).get("node") or Path(d).name, "records": count,
                    "head_seq": (last or {}).get("seq"), "head_hash": (last or {}).get("hash"),
                    "broken": broken, "gaps": gaps, "verified_at": dt.datetime.now(dt.timezone.utc)
                    .isoformat(timespec="seconds").replace("+00:00", "Z")})
    return out


def collect(audit_dirs: list[str], start: str, end: str, key_file: str | None = None, tz=None,
            names: Names | None = None) -> dict:
    """The period's numbers. `start`..`end` are calendar days in the zone `tz` (default: the
    configured one); the previous period is as many days before it."""
    tz = tz or zone()
    names = names or Names()
    a, b = _day(start), _day(end)
    if b < a:
        raise GuardError("--to is before --from")
    span = (b - a).days + 1
    pa, pb = a - dt.timedelta(days=span), a - dt.timedelta(days=1)
    lo, hi = bound(a.isoformat(), tz), bound(b.isoformat(), tz, end=True)
    plo, phi = bound(pa.isoformat(), tz), bound(pb.isoformat(), tz, end=True)
    cur, prev = [], Counter()
    for r in records(audit_dirs):
        ts = r.get("ts", "")
        if lo <= ts <= hi:
            cur.append(r)
        elif plo <= ts <= phi:
            prev["background" if is_background(r) else r.get("action")] += 1
    actions = Counter("background" if is_background(r) else r.get("action") for r in cur)
    per_day: dict[str, Counter] = {(a + dt.timedelta(days=i)).isoformat(): Counter() for i in range(span)}
    rules, providers, depts, would = Counter(), Counter(), Counter(), Counter()
    for r in cur:
        if not is_background(r):  # pages and icons are no AI use: counted apart, not charted
            per_day.setdefault(local_day(r["ts"], tz), Counter())[r.get("action")] += 1
        if r.get("action") in DECIDED and not is_background(r):
            providers[r.get("provider") or r.get("host")] += 1
            if r.get("action") != "allow":
                depts[r.get("department") or "（未知）"] += 1
        for x in r.get("rules") or []:
            if x.get("mode") == "monitor":
                would[f"{names.label(x['id'])} 将{action_word(x.get('action'))}"] += 1
            elif r.get("action") in ("block", "warn", "redact"):
                rules[names.label(x["id"])] += 1
    by_id = {r.get("event_id"): r for r in cur}
    acks = [dict(r, warned=by_id.get(r.get("acknowledges"), {})) for r in cur
            if r.get("action") in ("ack", "pending_approval")]
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"from": a.isoformat(), "to": b.isoformat(), "prev_from": pa.isoformat(), "prev_to": pb.isoformat(),
            "totals": {k: actions.get(k, 0) for k in (*DECIDED, "background", "ack", "pending_approval")},
            "prev": {k: prev.get(k, 0) for k in (*DECIDED, "background", "ack")},
            "per_day": sorted((d, dict(c)) for d, c in per_day.items()),
            "rules": rules.most_common(15), "providers": providers.most_common(15), "departments": depts.most_common(15),
            "would": would.most_common(15),
            "blocked": [r for r in cur if r.get("action") == "block"], "acks": acks,
            "chains": chain_status(audit_dirs, key_file),
            "generated": now, "tz": tz, "names": names}


def _trend(now: int, before: int) -> str:
    if before == 0:
        return "—" if now == 0 else "新增 / new"
    pct = (now - before) * 100 / before
    return f"{pct:+.0f}%"


def _rule_cell(names: Names, ids) -> str:
    """Rule names first, ids small beneath: what a 保密 officer reads, what a policy tuner greps."""
    e = html.escape
    ids = list(dict.fromkeys(ids))
    if not ids:
        return ""
    return (f"{e(names.titles(ids))}<br><span class=id>{e(', '.join(ids))}</span>")


def render_html(data: dict, show_reasons: bool = True) -> str:
    e = html.escape
    tz, names = data.get("tz") or zone(), data.get("names") or Names()
    zl = zone_label(tz)
    t, p = data["totals"], data["prev"]
    rows = "".join(
        f"<tr><td>{e(label)}</td><td class=num>{t[k]}</td><td class=num>{p.get(k, 0)}</td>"
        f"<td class=num>{_trend(t[k], p.get(k, 0))}</td></tr>"
        for k, label in (("block", "拦截 / blocked"), ("warn", "警告 / warned"), ("redact", "脱敏 / redacted"),
                         ("allow", "放行（AI 提问与上传）/ allowed"), ("ack", "确认 / acknowledged"),
                         ("background", "后台请求（页面、图标等，不计入上列）/ background")))
    when = lambda r: e(local_text(r.get("ts") or "", tz, seconds=False))  # noqa: E731
    blocked = "".join(
        f"<tr><td class=t>{when(r)}</td><td class=id>{e(r['event_id'])}</td>"
        f"<td>{e(r.get('user') or r.get('client') or '')}</td><td>{e(r.get('department') or '')}</td>"
        f"<td>{e(r.get('provider') or r.get('host') or '')}</td>"
        f"<td>{_rule_cell(names, [x['id'] for x in r.get('rules') or []])}</td></tr>" for r in data["blocked"][:500])
    acks = "".join(
        f"<tr><td class=t>{when(r)}</td><td class=id>{e(r.get('acknowledges') or '')}</td>"
        f"<td>{e(r.get('user') or r.get('client') or '')}</td>"
        f"<td>{_rule_cell(names, [x['id'] for x in r['warned'].get('rules') or []])}</td>"
        f"<td>{e(r.get('reason') or '') if show_reasons else '（已隐藏）'}</td>"
        f"<td>{'待审批' if r.get('action') == 'pending_approval' else '确认'}</td></tr>"
        for r in data["acks"][:500])
    chains = "".join(
        f"<tr><td>{e(c['node'])}</td><td class=num>{c['records']}</td><td class=num>{c['head_seq'] or ''}</td>"
        f"<td><code class=hash>{e(c['head_hash'] or '')}</code></td>"
        f"<td>{'完整 / intact' if not c['broken'] else '损坏 / BROKEN: ' + e(c['broken'])}</td></tr>"
        for c in data["chains"])
    intact = all(not c["broken"] for c in data["chains"])
    # The head hashes once more on lines of their own: what the signature below vouches for.
    heads = "".join(f'<p class="head">{e(c["node"])} seq {c["head_seq"] or 0} head {e(c["head_hash"] or "-")}</p>'
                    for c in data["chains"])
    more = lambda n, shown: (f'<p class="muted">另有 {n - shown} 条未列出，见 Excel 版。</p>'  # noqa: E731
                             if n > shown else "")
    generated = local_text(data["generated"], tz, seconds=False)
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>AI 使用保密审计月报 {e(data['from'])} — {e(data['to'])}</title>
<style>@page {{ size: A4; margin: 16mm 14mm; }}
body {{ font-family: "WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif; font-size: 10pt; color: #111; }}
h1 {{ font-size: 17pt; margin: 0 0 4pt; }}
h2 {{ font-size: 12.5pt; margin: 14pt 0 5pt; border-bottom: 1px solid #999; break-after: avoid; page-break-after: avoid; }}
/* a heading never ends a page: it travels with the start of what it heads */
section {{ break-inside: avoid; page-break-inside: avoid; }}
section.long {{ break-inside: auto; page-break-inside: auto; }}
table {{ border-collapse: collapse; width: 100%; margin: 0 0 4pt; table-layout: fixed; }}
thead {{ display: table-header-group; }} tr {{ break-inside: avoid; page-break-inside: avoid; }}
td, th {{ border: 1px solid #bbb; padding: 2pt 3pt; text-align: left; vertical-align: top; overflow-wrap: anywhere; }}
th {{ background: #eef1f5; font-weight: bold; }}
.num {{ text-align: right; }} .muted {{ color: #666; }} td.t {{ white-space: nowrap; }}
.id {{ font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; color: #444; overflow-wrap: normal; word-break: keep-all; }}
td.id {{ white-space: nowrap; }}
code.hash {{ font-size: 7pt; word-break: break-all; }} .hbars {{ table-layout: auto; }} .hbars td {{ border: none; }}
.hbar {{ background: #5b7fa8; height: 8pt; }} p.head {{ font: 7pt monospace; margin: 1pt 0; }}
.sign {{ margin-top: 28pt; }} .sign td {{ border: none; padding-top: 18pt; }}
</style></head><body>
<h1>AI 使用保密审计月报 / AI-usage audit report</h1>
<p>报告期 / period: <b>{e(data['from'])}</b> 至 <b>{e(data['to'])}</b>（{e(zl)}）；对比上期 / previous:
{e(data['prev_from'])} 至 {e(data['prev_to'])}。生成时间 / generated: {e(generated)}（{e(zl)}）。
本报告的每个数字均来自审计记录，不含任何提示词或文件内容。</p>
<section><h2>一、总体情况 / Totals</h2>
<table><colgroup><col style="width:52%"><col style="width:16%"><col style="width:16%"><col style="width:16%"></colgroup>
<thead><tr><th>类别</th><th>本期</th><th>上期</th><th>变化</th></tr></thead><tbody>{rows}</tbody></table></section>
<section><h2>二、每日趋势 / Per day（{e(zl)}）</h2>{stacked_bars(data['per_day'], 680, 200)}</section>
<section><h2>三、规则、服务与部门 / Top rules, services, departments</h2>
<table class="hbars"><tr><td><b>规则 / rules</b>{hbars(data['rules'], 110)}</td>
<td><b>服务 / services</b>{hbars(data['providers'], 110)}</td></tr>
<tr><td colspan=2><b>部门（拦截与警告）/ departments (blocked, warned)</b>{hbars(data['departments'], 300)}</td></tr></table>
{"<p><b>试运行规则 / monitor-mode rules:</b></p>" + hbars(data['would'], 300) if data['would'] else ""}</section>
<section class="long"><h2>四、拦截事件 / Blocked events ({len(data['blocked'])})</h2>
<table><colgroup><col style="width:20%"><col style="width:28%"><col style="width:10%"><col style="width:10%">
<col style="width:13%"><col style="width:19%"></colgroup>
<thead><tr><th>时间（{e(zl)}）</th><th>事件编号</th><th>用户</th><th>部门</th><th>服务</th><th>规则</th></tr></thead>
<tbody>{blocked or '<tr><td colspan=6 class=muted>本期无 / none</td></tr>'}</tbody></table>
{more(len(data['blocked']), 500)}</section>
<section class="long"><h2>五、警告确认与理由 / Acknowledgements ({len(data['acks'])})</h2>
<table><colgroup><col style="width:20%"><col style="width:28%"><col style="width:10%"><col style="width:17%">
<col style="width:17%"><col style="width:8%"></colgroup>
<thead><tr><th>时间（{e(zl)}）</th><th>所确认的事件</th><th>用户</th><th>规则</th><th>理由</th><th>类型</th></tr></thead>
<tbody>{acks or '<tr><td colspan=6 class=muted>本期无 / none</td></tr>'}</tbody></table>
{more(len(data['acks']), 500)}</section>
<section><h2>六、完整性声明 / Integrity statement</h2>
<p>{'经校验，各节点审计链完整，未发现篡改、插入或删除。' if intact else '校验发现审计链损坏，详见下表，须立即调查。'}
/ {'Every node chain verified intact.' if intact else 'A chain is BROKEN: see below.'}</p>
<table><colgroup><col style="width:14%"><col style="width:11%"><col style="width:11%"><col style="width:48%">
<col style="width:16%"></colgroup>
<thead><tr><th>节点 / node</th><th>记录数</th><th>链头序号</th><th>链头散列 / head hash</th><th>结果</th></tr></thead>
<tbody>{chains}</tbody></table>
{heads}
<table class="sign"><tr><td>审计员（签字）/ auditor: ____________________</td><td>日期 / date: ____________</td></tr>
<tr><td>保密委员会 / committee: ____________________</td><td></td></tr></table></section>
</body></html>"""


def render_pdf(html_text: str, out: Path) -> None:
    """Print the HTML to PDF with headless Chromium (A4, the CJK font the page names)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise GuardError("PDF needs Chromium (apt-get install chromium); use --format html or xlsx")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(html_text, encoding="utf-8")
        p = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
                            f"--print-to-pdf={out}", src.as_uri()], capture_output=True, text=True, timeout=120)
        if not out.exists() or out.stat().st_size == 0:
            raise GuardError(f"Chromium did not print the PDF: {p.stderr.strip()[-200:]}")


def render_xlsx(data: dict, out: Path, show_reasons: bool = True) -> None:
    """The report as a workbook: Chinese headers, times as real date cells in local time."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    tz, names = data.get("tz") or zone(), data.get("names") or Names()
    zl = zone_label(tz)
    stamp = "yyyy-mm-dd hh:mm:ss"

    def head(ws, cols, widths):
        ws.append(cols)
        for i, c in enumerate(ws[ws.max_row], start=0):
            c.font = Font(bold=True)
            ws.column_dimensions[c.column_letter].width = widths[i] if i < len(widths) else 16
        ws.freeze_panes = f"A{ws.max_row + 1}"  # ws.cell() would create the row

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 summary"
    ws.append(["报告期", dt.date.fromisoformat(data["from"]), dt.date.fromisoformat(data["to"]), zl])
    for c in ws[1][1:3]:
        c.number_format = "yyyy-mm-dd"
    ws.append(["类别", "本期", "上期"])
    for k in ("block", "warn", "redact", "allow", "ack", "background"):
        label = "后台请求（页面、图标等）" if k == "background" else action_word(k)
        ws.append([label, data["totals"][k], data["prev"].get(k, 0)])
    ws.append([])
    ws.append(["规则", "次数"])
    for name, n in data["rules"]:
        ws.append([name, n])
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 12
    ws.column_dimensions["C"].width = 12
    b = wb.create_sheet("拦截 blocked")
    head(b, [f"时间（{zl}）", "事件编号", "用户", "客户端地址", "部门", "服务", "规则", "规则编号", "节点", "序号", "记录散列"],
         [20, 34, 14, 15, 14, 16, 30, 34, 12, 8, 66])
    for r in data["blocked"]:
        ids = [x["id"] for x in r.get("rules") or []]
        b.append([excel_time(r.get("ts") or "", tz), r.get("event_id"), r.get("user"), r.get("client"),
                  r.get("department"), r.get("provider"), names.titles(ids), ", ".join(ids), r.get("node"),
                  r.get("seq"), r.get("hash")])
        b.cell(b.max_row, 1).number_format = stamp
    a = wb.create_sheet("确认 acks")
    head(a, [f"时间（{zl}）", "所确认的事件", "用户", "规则", "理由", "类型"], [20, 34, 14, 30, 40, 10])
    for r in data["acks"]:
        a.append([excel_time(r.get("ts") or "", tz), r.get("acknowledges"), r.get("user") or r.get("client"),
                  names.titles([x["id"] for x in r["warned"].get("rules") or []]),
                  r.get("reason") if show_reasons else "（已隐藏）", action_word(r.get("action"))])
        a.cell(a.max_row, 1).number_format = stamp
    c = wb.create_sheet("完整性 integrity")
    head(c, ["节点", "记录数", "链头序号", "链头散列", "结果"], [14, 10, 10, 66, 16])
    for ch in data["chains"]:
        c.append([ch["node"], ch["records"], ch["head_seq"], ch["head_hash"], ch["broken"] or "完整"])
    wb.save(out)


def write(audit_dirs: list[str], start: str, end: str, fmt: str, out: Path, key_file: str | None = None,
          show_reasons: bool = True, tz=None, names: Names | None = None) -> Path:
    data = collect(audit_dirs, start, end, key_file, tz, names)
    if fmt == "html":
        out.write_text(render_html(data, show_reasons), encoding="utf-8")
    elif fmt == "pdf":
        render_pdf(render_html(data, show_reasons), out)
    elif fmt == "xlsx":
        render_xlsx(data, out, show_reasons)
    else:
        raise GuardError(f"--format: {fmt!r} is not html, pdf or xlsx")
    return out
