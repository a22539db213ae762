"""Zip archives: members are files of their own (recursively), names are content too."""
from __future__ import annotations

import zipfile

from guard.errors import LimitExceeded
from guard.extract.context import Context
from guard.extract.zipsafe import read_member


def extract_archive(ctx: Context, zf: zipfile.ZipFile, location: str, depth: int) -> None:
    from guard.extract import extract_into

    if depth >= ctx.limits.max_depth:
        raise LimitExceeded(f"archives nested deeper than {ctx.limits.max_depth}")
    for info in zf.infolist():
        ctx.check_time()
        name = info.filename
        if info.is_dir():
            continue
        inner = f"{location}/{name}"
        data = read_member(ctx, zf, info)
        extract_into(ctx, data, name.rsplit("/", 1)[-1], inner, depth + 1)
    names = "\n".join(i.filename for i in zf.infolist())
    ctx.add(names, f"{location}#names", "filename")
