"""Zip archives: members are files of their own (recursively), names are content too."""
from __future__ import annotations

import io
import tarfile
import zipfile

from guard.errors import ExtractionError, LimitExceeded
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


def extract_tar(ctx: Context, data: bytes, location: str, depth: int) -> None:
    """tar archives (often inside gzip): regular members, bounded like zip members."""
    from guard.extract import extract_into

    lim = ctx.limits
    if depth >= lim.max_depth:
        raise LimitExceeded(f"archives nested deeper than {lim.max_depth}")
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        names = []
        for n, member in enumerate(tf):
            ctx.check_time()
            if n >= lim.max_members:
                raise LimitExceeded(f"more than {lim.max_members} archive members")
            names.append(member.name)
            if not member.isfile():
                continue
            if member.size > lim.max_member_bytes:
                raise LimitExceeded(f"{member.name}: {member.size} bytes (limit {lim.max_member_bytes})")
            ctx.charge(member.size)
            body = tf.extractfile(member).read()
            extract_into(ctx, body, member.name.rsplit("/", 1)[-1], f"{location}/{member.name}", depth + 1)
    except tarfile.TarError as e:
        raise ExtractionError("corrupt", f"unreadable tar archive: {e}") from None
    ctx.add("\n".join(names), f"{location}#names", "filename")
