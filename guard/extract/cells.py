"""Spreadsheet rows as one text part: cells tab-separated, a row a line, each cell anchored to its
reference (Sheet1!B2) so a finding names the cell. Shared by the xls and xlsb readers."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from guard.extract.context import Context


def add_rows(ctx: Context, rows: Iterable[tuple[int, list]], location: str,
             ref: Callable[[int, int], str]) -> None:
    """`rows`: (row index, cell values); `ref(row, col)` names a cell."""
    out: list[str] = []
    anchors: list[tuple[int, str]] = []
    pos = 0
    for r, values in rows:
        cells = [(c, str(v)) for c, v in enumerate(values) if v not in ("", None)]
        for c, value in cells:
            anchors.append((pos, ref(r, c)))
            out.append(value + "\t")
            pos += len(value) + 1
        if cells:
            out[-1] = out[-1][:-1] + "\n"
    ctx.add("".join(out), location, "body", anchors)
