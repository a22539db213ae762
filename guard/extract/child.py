"""Readers that run as child processes (pdftotext, tesseract): bounded in memory and time.

A hostile file can then crash or exhaust a child, never the process that inspects it.
"""
from __future__ import annotations

import os
import resource
import subprocess
import time

from guard.errors import ExtractionError
from guard.extract.context import Context


def run(ctx: Context, argv: list[str], data: bytes, memory: int, env: dict | None = None) -> tuple[int, bytes]:
    """(exit code, stdout) of argv fed `data` on stdin, within the input's time budget and an
    address-space limit of `memory` bytes. Past the budget: ExtractionError("timeout"); a
    child that cannot be started or limited: ExtractionError("corrupt")."""
    ctx.slow()
    name = os.path.basename(argv[0])
    remaining = ctx.deadline - time.monotonic()
    if remaining <= 0:
        raise ExtractionError("timeout", f"inspection took longer than {ctx.limits.max_seconds:g}s")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=None if env is None else {**os.environ, **env})
    except OSError as e:
        raise ExtractionError("corrupt", f"{name}: {e}") from None
    try:
        # Limited before it reads a byte of the (possibly hostile) input.
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (memory, memory))
        out, _ = proc.communicate(data, timeout=remaining)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        raise ExtractionError("timeout", f"{name} took longer than {ctx.limits.max_seconds:g}s") from None
    except OSError as e:
        raise ExtractionError("corrupt", f"{name}: {e}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
