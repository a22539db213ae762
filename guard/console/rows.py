"""The events table, defined once: the console's list, its CSV and xlsx exports and `guard audit
list --csv` show the same columns with the same values (local time, Chinese action words, rule
names), the exports followed by the details an auditor cross-checks (rule ids, hashes, chain
position, the UTC time as recorded)."""
from __future__ import annotations

import csv
import datetime as dt
import io

from guard.audit.query import is_background
from guard.display import Names, action_word, excel_time, local_text, zone_label

HIDDEN = "（已隐藏：仅审计员可见）"


def headers(tz: dt.tzinfo, lang: str = "zh", export: bool = True) -> list[str]:
    zh = lang != "en"
    cols = [f"时间（{zone_label(tz)}）" if zh else f"time ({zone_label(tz)})", "动作" if zh else "action",
            "事件编号" if zh else "event", "规则" if zh else "rules", "服务" if zh else "service",
            "主机" if zh else "host", "用户" if zh else "user", "部门" if zh else "department",
            "节点" if zh else "node"]
    if export:
        cols += (["规则编号", "类别", "路径", "客户端地址", "所确认的事件", "理由", "内容散列（SHA-256）", "策略",
                  "序号", "记录散列", "时间（UTC，原始记录）"] if zh else
                 ["rule ids", "categories", "path", "client", "acknowledges", "reason", "body sha256", "policy",
                  "seq", "record hash", "time (UTC, as recorded)"])
    return cols


def cells(r: dict, names: Names, tz: dt.tzinfo, lang: str = "zh", export: bool = True,
          when=excel_time) -> list:
    """One record as the table's cells; `when` turns the UTC `ts` into the time cell (a naive
    local datetime for spreadsheets, text for CSV and pages)."""
    ids = [x.get("id", "") for x in r.get("rules") or []]
    act = action_word(r.get("action"), lang)
    if is_background(r):  # allowed, but no AI use: a page, an icon, a poll
        act += " (background)" if lang == "en" else "（后台）"
    row = [when(r.get("ts") or "", tz), act, r.get("event_id") or "",
           names.titles(ids, lang), r.get("provider") or "", r.get("host") or "",
           r.get("user") or r.get("client") or "", r.get("department") or "", r.get("node") or ""]
    if export:
        pol = r.get("policy") or {}
        row += [", ".join(ids), "、".join(dict.fromkeys(names.category(i) for i in ids)), r.get("path") or "",
                r.get("client") or "", r.get("acknowledges") or "", r.get("reason") or "", r.get("body_sha256") or "",
                f"{pol.get('id')}@{pol.get('sha256', '')[:12]}" if pol else "",
                r.get("seq") if r.get("seq") is not None else "", r.get("hash") or "", r.get("ts") or ""]
    return row


def to_csv(recs, names: Names, tz: dt.tzinfo, lang: str = "zh") -> str:
    """UTF-8 text with a BOM (Excel on zh-CN Windows reads UTF-8 only with one); times as
    `2026-11-27 08:30:05`, which Excel reads as a date and time."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(headers(tz, lang))
    for r in recs:
        w.writerow(cells(r, names, tz, lang, when=local_text))
    return buf.getvalue()


def to_xlsx(recs, names: Names, tz: dt.tzinfo, lang: str = "zh") -> bytes:
    """A workbook whose time column holds real date cells (local time: Excel has no zones),
    with the header frozen and filters on."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "事件" if lang != "en" else "events"
    cols = headers(tz, lang)
    ws.append(cols)
    n = 1
    for r in recs:
        ws.append(cells(r, names, tz, lang))
        n += 1
        ws.cell(n, 1).number_format = "yyyy-mm-dd hh:mm:ss"
    for c in ws[1]:
        c.font = Font(bold=True)
    widths = [20, 8, 26, 28, 14, 26, 14, 12, 12, 34, 16, 30, 15, 26, 30, 66, 20, 8, 66, 26]
    for i, wdt in enumerate(widths[:len(cols)], start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = wdt
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
