"""Fixtures shared by the audit tests."""
import os
from pathlib import Path

import pytest

from guard.audit import writer as audit_writer


@pytest.fixture
def events(monkeypatch):
    """[(what, file name)] for every fsync and every os.replace the writer makes."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        log.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        log.append(("replace", Path(dst).name))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(audit_writer.os, "fsync", fsync)
    monkeypatch.setattr(audit_writer.os, "replace", replace)
    return log
