"""Charts as inline SVG, drawn on the server: no script, no CDN, works on an isolated network."""
from __future__ import annotations

import html

from guard.display import action_word

COLORS = {"block": "#b00020", "warn": "#e08a00", "redact": "#7b1fa2", "allow": "#5c8a5c", "ack": "#1565c0",
          "pending_approval": "#00838f", "gap": "#444"}
ORDER = ("block", "warn", "redact", "ack", "pending_approval", "allow", "gap")


def stacked_bars(days: list[tuple[str, dict[str, int]]], width: int = 860, height: int = 220) -> str:
    """Events per day, stacked by action, with a legend."""
    e = html.escape
    if not days:
        return '<p class="muted">无数据 / no data</p>'
    top = max(sum(c.values()) for _, c in days) or 1
    left, bottom, pad = 44, 28, 6
    plot_w, plot_h = width - left - 10, height - bottom - 30
    bar_w = max(2, plot_w / len(days) - 2)
    out = [f'<svg class="chart" role="img" aria-label="events per day" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-size="11">']
    for frac in (0, 0.5, 1):
        y = 30 + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{left - pad}" y="{y + 4:.1f}" text-anchor="end">{int(top * frac)}</text>')
    for i, (day, counts) in enumerate(days):
        x = left + i * (plot_w / len(days))
        y = 30 + plot_h
        for action in ORDER:
            n = counts.get(action, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{COLORS.get(action, "#888")}"><title>{e(day)} {e(action_word(action))}: {n}</title></rect>')
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle">{e(day[5:])}</text>')
    lx = left
    for action in ORDER:
        if any(c.get(action) for _, c in days):
            word = action_word(action)
            out.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{COLORS[action]}"/>'
                       f'<text x="{lx + 14}" y="15">{e(word)}</text>')
            lx += 24 + 12 * len(word)
    out.append("</svg>")
    return "".join(out)


def hbars(rows: list[tuple[str, int]], width: int = 400) -> str:
    """A ranked list as horizontal bars (top rules, providers, users...)."""
    e = html.escape
    if not rows:
        return '<p class="muted">无 / none</p>'
    top = max(n for _, n in rows) or 1
    out = ['<table class="hbars">']
    for name, n in rows:
        # The bar's length is a share of its cell: the list fits its card or page, whatever the labels.
        out.append(f'<tr><td>{e(str(name))}</td><td class="num">{n}</td><td style="width:{min(60, width // 5)}%">'
                   f'<div class="hbar" style="width:{max(1, round(100 * n / top))}%"></div></td></tr>')
    out.append("</table>")
    return "".join(out)
