"""`guard pac`, evaluated by a real JavaScript engine (Node.js): AI hosts to the guards, nothing
else, intranet DIRECT first, and the PAC generated from the catalog rather than kept by hand."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.catalog import load_catalog
from guard.pac import render, routes

NODE = shutil.which("node") or shutil.which("nodejs")
GUARD = [sys.executable, "-m", "guard.cli.main"]
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
G = "PROXY guard.corp.example:8080"
OTHER = "PROXY proxy.corp:3128"


def evaluate(pac: str, urls: list[str], my_ip: str = "10.1.2.3") -> list[str]:
    """FindProxyForURL for each URL, with the host as browsers pass it (IPv6 without brackets)."""
    script = (f"function myIpAddress() {{ return {json.dumps(my_ip)}; }}\n"
              "const pac = require('fs').readFileSync(0, 'utf8'); eval(pac);\n"
              f"for (const u of {json.dumps(urls)}) {{ let h = new URL(u).hostname; "
              "if (h.startsWith('[')) h = h.slice(1, -1); console.log(FindProxyForURL(u, h)); }")
    out = subprocess.run([NODE, "-e", script], input=pac, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def pac(*args: str) -> str:
    return subprocess.run([*GUARD, "pac", *args], capture_output=True, text=True, check=True).stdout


CASES = {
    # AI services the catalog names: the guard, and nothing after it (fail closed)
    "https://api.openai.com/v1/chat/completions": G,
    "https://chatgpt.com/": G,
    "https://files.oaiusercontent.com/x": G,                     # ChatGPT's own storage
    "https://myres.openai.azure.com/openai/deployments/x": G,    # an Azure OpenAI resource
    "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x": G,
    "https://us-central1-aiplatform.googleapis.com/v1/x": G,
    "https://api2.cursor.sh/aiserver": G,
    "https://api.github.com/copilot_internal/v2/token": G,       # path-scoped: the host alone
    "https://x.com/i/api/2/grok/add_response.json": G,
    "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions": G,
    "https://ark.cn-beijing.volces.com/api/v3/chat/completions": G,
    "https://chat.deepseek.com/": G,
    "https://KIMI.MOONSHOT.CN./": G,
    "https://generativelanguage.googleapis.com/v1beta/models": G,
    "http://ai-guard.invalid/ack/abc": G,                         # acknowledgement host
    # Cloud storage, CDN and API domains shared with the rest of the internet: not the guard
    "https://mybucket.oss-cn-hangzhou.aliyuncs.com/a.docx": OTHER,
    "https://ecs.aliyuncs.com/": OTHER,
    "https://acct.blob.core.windows.net/c/b": OTHER,
    "https://bucket-1250000000.cos.ap-guangzhou.myqcloud.com/f": OTHER,
    "https://tos-cn-beijing.volces.com/f": OTHER,
    "https://imagex.bytedanceapi.com/": OTHER,
    "https://mybucket.s3.amazonaws.com/f": OTHER,
    "https://ec2.us-east-1.amazonaws.com/": OTHER,
    "https://storage.googleapis.com/b/o": OTHER,
    "https://content-push.googleapis.com/upload": OTHER,
    "https://d111111abcdef8.cloudfront.net/app.js": OTHER,
    "https://api.x.com/2/tweets": OTHER,                          # X's other hosts: not the guard
    "https://abs.twimg.com/x.js": OTHER,
    "https://static.deepl.com/css/x.css": OTHER,
    "https://github.com/org/repo": OTHER,
    "https://www.baidu.com/": OTHER,
    "https://notopenai.com/": OTHER,
    "https://openai.com.evil.example/": OTHER,
    "https://8.8.8.8/": OTHER,                                    # a public IP literal
    # Intranet: DIRECT before anything else
    "https://intranet.corp.example/": "DIRECT",
    "https://api.openai.com.corp.example/": "DIRECT",             # an intranet name, whatever it looks like
    "http://wiki/": "DIRECT",                                     # plain host name
    "http://printer.local/": "DIRECT",
    "http://localhost:8080/": "DIRECT",
    "http://10.20.30.40/": "DIRECT",
    "http://172.16.5.4/": "DIRECT",
    "http://172.31.255.1/": "DIRECT",
    "http://192.168.1.10:8000/v1/chat/completions": "DIRECT",
    "http://127.0.0.1:11434/api/chat": "DIRECT",
    "http://169.254.169.254/latest": "DIRECT",
    "http://100.64.0.7/": "DIRECT",
    "http://[fd00::5]/": "DIRECT",
    "http://[::1]:8080/": "DIRECT",
    "http://[fe80::1]/": "DIRECT",
    "http://172.32.0.1/": OTHER,                                  # just outside 172.16/12
    "http://[2001:db8::1]/": OTHER,
}


@needs_node
def test_generated_pac_routes_ai_hosts_only_and_intranet_direct():
    assert len(CASES) >= 30
    got = evaluate(pac("--guard", "guard.corp.example:8080", "--fallback", "proxy.corp:3128",
                       "--intranet", "corp.example"), list(CASES))
    assert dict(zip(CASES, got)) == CASES
    direct = pac()
    assert evaluate(direct, ["https://www.baidu.com/", "https://claude.ai/", "https://oss.aliyuncs.com/"]) == \
        ["DIRECT", "PROXY 127.0.0.1:8080", "DIRECT"]


@needs_node
def test_storage_opt_in_goes_to_the_guard_then_the_fallback():
    got = evaluate(pac("--guard", "g:8080", "--storage"),
                   ["https://b.oss-cn-hangzhou.aliyuncs.com/f", "https://api.openai.com/", "https://www.qq.com/"])
    assert got == ["PROXY g:8080; DIRECT", "PROXY g:8080", "DIRECT"]


@needs_node
def test_unknown_opt_in_sends_other_internet_hosts_to_the_guard_with_failover():
    got = evaluate(pac("--guard", "g1:8080", "--guard", "g2:8080", "--unknown", "--intranet", "corp.example"),
                   ["https://relay-zhongzhuan.example/v1/chat/completions", "https://api.openai.com/",
                    "https://wiki.corp.example/", "http://10.1.1.1/"], my_ip="10.0.0.1")
    nodes = got[0].split("; ")
    assert sorted(nodes[:2]) == ["PROXY g1:8080", "PROXY g2:8080"] and nodes[2] == "DIRECT"
    assert "DIRECT" not in got[1] and got[2:] == ["DIRECT", "DIRECT"]


CATALOG = load_catalog()


@needs_node
def test_pac_and_catalog_agree():
    """Every host the catalog names goes to the guard, and every host the PAC sends to the guard
    is one the catalog classifies as AI (generated from it, not hand-kept)."""
    r = routes(CATALOG)
    named = [h for h in [*r.suffixes, *r.exact] if h != "ai-guard.invalid"]
    hosts = named + ["sub." + h for h in r.suffixes if h != "ai-guard.invalid"]
    got = evaluate(pac("--guard", "g:1"), [f"https://{h}/" for h in hosts])
    assert got == ["PROXY g:1"] * len(hosts)
    for h in named:
        assert any(CATALOG.service(h, p or "/") for hh, p, _ in CATALOG.services if hh.lower() == h), h


@needs_node
def test_no_cloud_or_cdn_domain_goes_to_the_guard():
    """Every multi-tenant cloud/CDN domain the catalog knows of: neither it nor an arbitrary
    tenant under it is sent to the guard (only hosts the catalog names exactly are)."""
    from guard.catalog import CLOUD_DOMAINS
    r = routes(CATALOG)
    assert not (set(r.suffixes) | set(r.exact)) & set(CLOUD_DOMAINS)
    urls = [u for d in sorted(CLOUD_DOMAINS) for u in (f"https://{d}/", f"https://zz-tenant-4711.{d}/x")]
    got = evaluate(pac("--guard", "g:1", "--fallback", "corp:3128"), urls)
    assert dict(zip(urls, got)) == {u: "PROXY corp:3128" for u in urls}


_label = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_private = st.one_of(
    st.ip_addresses(network="10.0.0.0/8"), st.ip_addresses(network="172.16.0.0/12"),
    st.ip_addresses(network="192.168.0.0/16"), st.ip_addresses(network="127.0.0.0/8"),
    st.ip_addresses(network="fc00::/7"), st.ip_addresses(network="fe80::/10"))


@needs_node
@settings(derandomize=True, max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_private, min_size=5, max_size=20), st.lists(_label, min_size=1, max_size=4),
       st.sampled_from(["aliyuncs.com", "amazonaws.com", "myqcloud.com", "volces.com", "bytedanceapi.com",
                        "blob.core.windows.net", "googleapis.com", "cloudfront.net", "azureedge.net"]))
def test_private_addresses_direct_and_cloud_subdomains_never_guarded(addresses, labels, cloud):
    text = render(CATALOG, ["g:1"], "DIRECT", ["corp.example"])
    ips = [f"http://[{a}]/" if a.version == 6 else f"http://{a}/" for a in addresses]
    host = ".".join(labels) + "." + cloud
    expect_ai = CATALOG.service(host) is not None and any(
        host == h or host.endswith("." + h) for h in routes(CATALOG).suffixes)
    got = evaluate(text, [*ips, f"https://{host}/", f"https://{'.'.join(labels)}.corp.example/"])
    assert got[:len(ips)] == ["DIRECT"] * len(ips)
    assert got[-2] == ("PROXY g:1" if expect_ai else "DIRECT"), host
    assert got[-1] == "DIRECT"


@pytest.mark.slow  # starts real guard proxies
@needs_node
def test_several_guard_nodes_each_client_one_with_failover():
    text = pac("--guard", "g1:8080", "--guard", "g2:8080", "--guard", "g3:8080")
    firsts = set()
    for i in range(40):
        ip = f"10.20.{i // 10}.{i}"
        got = evaluate(text, ["https://api.openai.com/", "https://chatgpt.com/", "https://www.baidu.com/"], ip)
        assert got[0] == got[1]                      # one node per client, for every AI host
        nodes = got[0].split("; ")
        assert sorted(nodes) == ["PROXY g1:8080", "PROXY g2:8080", "PROXY g3:8080"] and got[2] == "DIRECT"
        assert "DIRECT" not in got[0]                # fail closed: no DIRECT for AI hosts
        assert evaluate(text, ["https://api.openai.com/"], ip) == [got[0]]  # stable for the client
        firsts.add(nodes[0])
    assert len(firsts) == 3                          # clients are spread over the nodes


def test_pac_bad_arguments_are_one_line():
    for args in (["--guard", 'x";alert(1)//'], ["--intranet", 'a"b'], ["--fallback", "x; DIRECT"]):
        p = subprocess.run([*GUARD, "pac", *args], capture_output=True, text=True)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, (args, p.stderr)
    p = subprocess.run([*GUARD, "pac", "--catalog", "/nonexistent.yaml"], capture_output=True, text=True)
    assert p.returncode == 2 and "not found" in p.stderr


def test_hand_kept_pac_is_gone():
    assert not (Path(__file__).resolve().parents[2] / "deploy" / "proxy.pac").exists()
