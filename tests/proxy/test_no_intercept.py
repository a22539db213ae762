"""The default interception (`guard_intercept=wide`): every host is opened but the exclusion list
and private addresses, the catalog always; decided as mitmproxy decides with allow_hosts."""
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.test import taddons

from guard.catalog import load_catalog
from guard.errors import PolicyError
from guard.proxy import no_intercept
from guard.proxy.addon import GuardAddon

CATALOG = load_catalog()
ENTRIES = no_intercept.load()


def intercepted(allow_hosts: list[str], *names: str, port: int = 443) -> bool:
    """mitmproxy's next_layer: intercept when any `host:port` name matches any allow_hosts regex."""
    return any(re.search(rx, f"{n}:{port}", re.I) for n in names for rx in allow_hosts)


WIDE = CATALOG.allow_hosts() + [no_intercept.allow_pattern(ENTRIES)]


@pytest.mark.parametrize("names, expected", [
    (("api.relay-zhongzhuan.example",), True),        # an unknown host: opened (shadow AI is seen)
    (("api.openai.com",), True),
    (("www.example.org",), True),
    (("mybank.icbc.com.cn",), False),                  # banking: tunnelled
    (("ICBC.COM.CN.",), False),
    (("icbc.com.cn.evil.example",), True),             # not a subdomain of the excluded one
    (("notalipay.com",), True),
    (("fe2.update.microsoft.com",), False),
    (("10.1.2.3",), False), (("192.168.0.8",), False), (("127.0.0.1",), False), (("172.20.1.1",), False),
    (("172.32.1.1",), True), (("printer.local",), False), (("localhost",), False), (("fd00::5",), False),
    (("8.8.8.8",), True),
    (("203.0.113.9", "www.icbc.com.cn"), True),         # an excluded SNI in front of another address
])
def test_wide_interception(names, expected):
    assert intercepted(WIDE, *names) is expected


@settings(derandomize=True, max_examples=200)
@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True), min_size=0, max_size=3),
       st.sampled_from(ENTRIES), st.integers(1, 65535))
def test_every_subdomain_of_an_excluded_host_is_tunnelled(labels, entry, port):
    host = ".".join([*labels, entry.replace("*", "x")])
    assert not intercepted([no_intercept.allow_pattern(ENTRIES)], host, port=port)


def test_catalog_wins_over_the_list(tmp_path):
    listed = tmp_path / "no-intercept.txt"
    listed.write_text("# even if someone lists it\nopenai.com\nchatgpt.com\n", encoding="utf-8")
    allow = CATALOG.allow_hosts() + [no_intercept.allow_pattern(no_intercept.load(listed))]
    assert intercepted(allow, "api.openai.com") and intercepted(allow, "chatgpt.com")
    assert not intercepted(allow, "platform.openai.com")   # listed and not in the catalog


def test_bad_list_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("bank.example\nnot a host\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad.txt:2: 'not a host'"):
        no_intercept.load(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        no_intercept.load(tmp_path / "missing.txt")


def test_addon_sets_allow_hosts_by_mode(tmp_path):
    addon = GuardAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, guard_workers=0)
        assert tctx.options.guard_intercept == "wide"
        assert intercepted(tctx.options.allow_hosts, "api.relay.example")
        assert not intercepted(tctx.options.allow_hosts, "www.icbc.com.cn")
        tctx.configure(addon, guard_intercept="catalog")
        assert not intercepted(tctx.options.allow_hosts, "api.relay.example")
        assert intercepted(tctx.options.allow_hosts, "api.openai.com")
        own = tmp_path / "mine.txt"
        own.write_text("relay.example\n", encoding="utf-8")
        tctx.configure(addon, guard_intercept="wide", guard_no_intercept=str(own))
        assert not intercepted(tctx.options.allow_hosts, "api.relay.example")
        assert intercepted(tctx.options.allow_hosts, "www.icbc.com.cn")
        tctx.configure(addon, guard_intercept="all")
        assert tctx.options.allow_hosts == []


def _flow(host, path, method="POST", headers=()):
    from mitmproxy.test import tflow
    f = tflow.tflow()
    f.request.host, f.request.port, f.request.scheme = host, 443, "https"
    f.request.path, f.request.method = path, method
    f.request.headers.update(dict(headers))
    return f


@pytest.mark.parametrize("headers, held", [
    ({"content-type": "application/json", "content-length": "300"}, True),
    ({"content-type": "application/x-www-form-urlencoded"}, True),       # curl -d '{"model": ...}'
    ({}, True),
    ({"content-type": "multipart/form-data; boundary=x"}, False),
    ({"content-type": "application/x-git-receive-pack-request"}, False),
    ({"content-type": "video/mp4"}, False),
    ({"content-type": "application/json", "content-length": str(64 << 20)}, False),  # past the shadow check's size
])
def test_unknown_host_bodies_held_only_when_they_could_be_an_llm_call(headers, held):
    from guard.proxy.snapshot import MAYBE
    addon = GuardAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, guard_workers=0)
        f = _flow("files.example.org", "/upload", headers=headers)
        addon.requestheaders(f)
        assert (MAYBE in f.metadata) is held and bool(f.request.stream) is (not held)
        assert f.response is None


def test_responses_api_websocket_gets_426_and_other_websockets_do_not():
    addon = GuardAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, guard_workers=0)
        ws = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13"}
        for host, path in (("api.openai.com", "/v1/responses"), ("relay.example", "/v1/responses?x=1"),
                           ("myres.openai.azure.com", "/openai/v1/responses/")):
            f = _flow(host, path, "GET", ws)
            addon.requestheaders(f)
            assert f.response is not None and f.response.status_code == 426, (host, path)
            assert json.loads(f.response.content)["error"]["code"] == "websocket_not_supported"
        for host, path, method, headers in (("api.openai.com", "/v1/realtime", "GET", ws),      # inspected frames
                                            ("api.openai.com", "/v1/responses", "POST", {}),    # plain HTTP
                                            ("api.openai.com", "/v1/responses", "GET", {})):
            f = _flow(host, path, method, headers)
            addon.requestheaders(f)
            assert f.response is None or f.response.status_code != 426
