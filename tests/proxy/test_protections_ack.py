"""Acknowledgement protections (issue 26), in mitmproxy's test harness and on the store itself:
- the acknowledgement POST is refused from a foreign Origin even with the right CSRF token (a
  page elsewhere cannot acknowledge on the user's behalf), and the retry is still warned;
- an acknowledgement lasts guard_ack_ttl: after it the same retry is warned again; the same
  holds for the shared acknowledgement directory of several nodes and for their link tokens.
A controlled clock, no sleeps. Each test fails when its protection is removed."""
import re
import time as real_time
from pathlib import Path

import pytest
from mitmproxy.test import taddons
from mitm_context import bind_context

from guard.catalog import ACK_HOST
from guard.proxy import ack as ack_mod
from guard.proxy import act as act_mod
from guard.proxy import acks as acks_mod
from guard.proxy.acks import Acknowledgements, Shared, Warning
from guard.proxy.addon import GuardAddon

from test_addon import call, chat, flow

TTL = 600
INTERNAL = "内部资料 注意保存\n第三季度工作简报"


class Clock:
    """time.monotonic and time.time under the test's control; the rest of `time` as it is."""

    def __init__(self):
        self.offset = 0.0

    def monotonic(self):
        return real_time.monotonic() + self.offset

    def time(self):
        return real_time.time() + self.offset

    def __getattr__(self, name):
        return getattr(real_time, name)


@pytest.fixture(scope="module")
def _clock():
    c = Clock()
    saved = [(mod, mod.time) for mod in (ack_mod, act_mod, acks_mod)]
    for mod, _ in saved:
        mod.time = c
    yield c
    for mod, t in saved:
        mod.time = t


@pytest.fixture
def clock(_clock):
    _clock.offset = 0.0
    return _clock


@pytest.fixture(scope="module")
def _addon(tmp_path_factory, _clock):
    # One addon for the module (configuring one takes seconds); each test starts with no
    # warnings or acknowledgements (below).
    a = GuardAddon()
    with taddons.context(a) as tctx:
        tctx.configure(a, guard_audit_dir=str(tmp_path_factory.mktemp("ack") / "audit"), guard_ack_ttl=TTL)
        a._tctx = tctx
        yield a


@pytest.fixture
def addon(_addon, clock):
    bind_context(_addon._tctx)  # another test's context may have moved mitmproxy's global ctx
    for table in (_addon.acks.warnings, _addon.acks.acked, _addon.acks.awaiting):
        table.clear()
    return _addon


async def send(a, f):
    a.requestheaders(f)
    await call(a.request, f)
    return f


async def warned(a) -> str:
    f = await send(a, flow(body=chat(INTERNAL)))
    assert f.response is not None and f.response.headers["X-AI-Guard-Action"] == "warn"
    return f.response.headers["X-AI-Guard-Ack"]


async def retry_passes(a) -> bool:
    f = await send(a, flow(body=chat(INTERNAL)))
    return f.response is None  # sent on to the service


def ack_flow(link: str, method: str = "GET", body: str = "", origin: str | None = None):
    f = flow(host=ACK_HOST, path=link.split(ACK_HOST, 1)[1], body=body.encode(),
             headers={"content-type": "application/x-www-form-urlencoded", **({"origin": origin} if origin else {})})
    f.request.scheme, f.request.port, f.request.method = "http", 80, method
    return f


async def csrf_of(a, link: str) -> str:
    page = await send(a, ack_flow(link))
    assert page.response.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.response.get_text()).group(1)


@pytest.mark.slow
@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example", "https://ai-guard.invalid",
                                    "http://ai-guard.invalid.evil.example", "http://ai-guard.invalid:8080"])
async def test_acknowledgement_from_a_foreign_origin_is_refused(addon, origin):
    link = await warned(addon)
    token = await csrf_of(addon, link)
    r = await send(addon, ack_flow(link, "POST", f"csrf={token}&reason=x", origin))
    assert r.response.status_code == 403
    assert not await retry_passes(addon)            # nothing was acknowledged
    ok = await send(addon, ack_flow(link, "POST", f"csrf={token}&reason=x", f"http://{ACK_HOST}"))
    assert ok.response.status_code == 200           # the control: the page's own origin acknowledges
    assert await retry_passes(addon)


@pytest.mark.slow
async def test_acknowledgement_expires_after_the_ttl(addon, clock):
    link = await warned(addon)
    token = await csrf_of(addon, link)
    assert (await send(addon, ack_flow(link, "POST", f"csrf={token}&note=ok", f"http://{ACK_HOST}"))).response.status_code == 200
    clock.offset += TTL - 5
    assert await retry_passes(addon)                # within the TTL: the retry passes
    clock.offset += 10
    assert not await retry_passes(addon)            # after it: warned again


@pytest.mark.slow
async def test_an_unused_link_expires_after_the_ttl(addon, clock):
    link = await warned(addon)
    clock.offset += TTL + 1
    page = await send(addon, ack_flow(link))
    assert page.response.status_code == 404


def _warning(who="10.0.0.7", keys=frozenset({("internal.marking", "d1")})) -> Warning:
    return Warning("evt-1", who, keys, [], False, "OpenAI API", "", "", (), acks_mod.time.monotonic() + TTL)


def test_shared_directory_acknowledgement_expires_on_every_node(tmp_path, clock):
    key, d = b"k" * 32, Path(tmp_path / "shared")
    node_a, node_b = Acknowledgements(), Acknowledgements()
    node_a.shared, node_b.shared = Shared(key, d), Shared(key, d)
    w = _warning()
    token = node_a.issue(w, TTL)
    assert node_b.find(token, "", "", ()) is not None          # the link works on the other node
    node_a.acknowledge(w, TTL)
    assert node_b.covered(w.who, w.keys) and node_a.covered(w.who, w.keys)
    assert not node_b.covered("10.0.0.8", w.keys)               # another sender is not covered
    clock.offset += TTL + 2
    assert not node_b.covered(w.who, w.keys) and not node_a.covered(w.who, w.keys)
    fresh = Acknowledgements()
    fresh.shared = Shared(key, d)
    assert fresh.find(token, "", "", ()) is None               # an expired link is refused on any node

