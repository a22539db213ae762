"""Uploads are inspected in worker processes: same verdicts as in the proxy, and a worker
that dies, hangs or runs out of memory blocks its request and is replaced (fail closed)."""
import asyncio
import hashlib
import os
import random
import signal
import time

import pytest

from guard.proxy.body import Request, inspect
from guard.proxy.pool import InspectionPool, _ready
from writers import make_docx, make_xlsx

pytestmark = pytest.mark.slow  # worker processes, each compiling the policy
PADDING = ["普通段落，介绍项目的一般进展情况。" * 40] * 60  # well over the 64 KB inline limit


def prose(paragraphs: int) -> list[str]:
    """Text that compresses like real prose (repeated phrases would trip the zip ratio limit)."""
    rnd = random.Random(paragraphs)
    chars = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    return ["".join(rnd.choice(chars) for _ in range(300)) for _ in range(paragraphs)]


def upload(data: bytes, name: str) -> Request:
    return Request(data, {"content-type": "application/octet-stream", "content-disposition": f'attachment; filename="{name}"'},
                   "/v1/files")


@pytest.fixture
def pool():
    p = InspectionPool({"internet": None}, 1, 0)
    yield p
    p.close()


async def test_worker_verdicts_equal_in_process(pool, engine):
    cases = [upload(make_docx(PADDING, header="机密★5年"), "a.docx"), upload(make_docx(PADDING), "b.docx"),
             upload(make_xlsx({"一": [["x"]], "二": [["核心商密▲3年"]]}), "c.xlsx")]
    for req in cases:
        here, _, files_here = inspect(engine, req, time.perf_counter())
        there, parts, files_there, digest = await pool.inspect("internet", req, time.perf_counter(), 60)
        assert (there.action, there.rules) == (here.action, here.rules)
        assert [f.location for f in there.findings] == [f.location for f in here.findings]
        assert files_there == files_here
        assert parts == []  # extracted text stays in the worker unless redaction needs it
        assert digest == hashlib.sha256(req.body).hexdigest()
    assert [v.action for v in [(await pool.inspect("internet", r, 0, 60))[0] for r in cases]] == ["block", "allow", "block"]


async def test_killed_worker_blocks_and_is_replaced(pool):
    pid = await asyncio.wrap_future(pool._pool.submit(_ready))
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer or a parser segfault would
    verdict, *_ = await pool.inspect("internet", upload(make_docx(PADDING), "b.docx"), 0, 60)
    assert verdict.action == "block" and verdict.rules == ("uninspectable.corrupt",)
    assert (await pool.inspect("internet", upload(make_docx(PADDING), "b.docx"), 0, 60))[0].action == "allow"


async def test_hung_worker_times_out_blocks_and_is_replaced(pool):
    big = upload(make_docx(prose(6000)), "big.docx")
    verdict, *_ = await pool.inspect("internet", big, 0, 0.01)
    assert verdict.action == "block" and verdict.rules == ("uninspectable.limit",)
    clean = upload(make_docx(PADDING), "b.docx")
    assert (await pool.inspect("internet", clean, 0, 60))[0].action == "allow"


async def test_worker_out_of_memory_blocks():
    starved = InspectionPool({"internet": None}, 1, 64)  # less than this upload's inspection needs
    try:
        verdict, *_ = await starved.inspect("internet", upload(make_docx(prose(6000)), "big.docx"), 0, 60)
        assert verdict.action == "block" and verdict.rules[0].startswith("uninspectable.")
    finally:
        starved.close()


async def test_any_worker_side_error_blocks(pool, monkeypatch):
    """Whatever goes wrong between the proxy and a worker, the request does not pass."""
    import concurrent.futures as cf
    monkeypatch.setattr(cf.ProcessPoolExecutor, "submit", lambda self, *a: _failed(ValueError("cannot pickle the result")))
    verdict, *_ = await pool.inspect("internet", upload(make_docx(PADDING), "b.docx"), 0, 60)
    assert verdict.action == "block" and verdict.rules == ("uninspectable.corrupt",)


def _failed(exc):
    import concurrent.futures as cf
    fut = cf.Future()
    fut.set_exception(exc)
    return fut
