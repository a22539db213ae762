"""`guard pac`, evaluated by a real JavaScript engine (Node.js)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NODE = shutil.which("node") or shutil.which("nodejs")
GUARD = [sys.executable, "-m", "guard.cli.main"]


def evaluate(pac: str, urls: list[str], my_ip: str = "10.1.2.3") -> list[str]:
    script = (f"function myIpAddress() {{ return {json.dumps(my_ip)}; }}\n"
              "const pac = require('fs').readFileSync(0, 'utf8'); eval(pac);\n"
              f"for (const u of {json.dumps(urls)}) {{ const h = new URL(u).hostname; "
              "console.log(FindProxyForURL(u, h)); }")
    out = subprocess.run([NODE, "-e", script], input=pac, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
def test_generated_pac_routes_ai_hosts_to_the_guard():
    pac = subprocess.run([*GUARD, "pac", "--guard", "guard.corp.example:8080", "--fallback", "proxy.corp:3128"],
                         capture_output=True, text=True, check=True).stdout
    cases = {
        "https://api.openai.com/v1/chat/completions": "PROXY guard.corp.example:8080",
        "https://chatgpt.com/": "PROXY guard.corp.example:8080",
        "https://files.oaiusercontent.com/x": "PROXY guard.corp.example:8080",
        "https://acct.blob.core.windows.net/c/b": "PROXY guard.corp.example:8080",     # upload storage
        "https://bedrock-runtime.eu-west-1.amazonaws.com/model/x": "PROXY guard.corp.example:8080",
        "https://us-central1-aiplatform.googleapis.com/v1/x": "PROXY guard.corp.example:8080",
        "https://api2.cursor.sh/aiserver": "PROXY guard.corp.example:8080",
        "https://api.github.com/copilot_internal/v2/token": "PROXY guard.corp.example:8080",
        "http://ai-guard.invalid/ack/abc": "PROXY guard.corp.example:8080",          # acknowledgement host
        "https://KIMI.MOONSHOT.CN./": "PROXY guard.corp.example:8080",
        "https://www.baidu.com/": "PROXY proxy.corp:3128",
        "https://notopenai.com/": "PROXY proxy.corp:3128",
        "https://openai.com.evil.example/": "PROXY proxy.corp:3128",
        "https://intranet.corp.example/": "PROXY proxy.corp:3128",
    }
    assert evaluate(pac, list(cases)) == list(cases.values())
    direct = subprocess.run([*GUARD, "pac"], capture_output=True, text=True, check=True).stdout
    assert evaluate(direct, ["https://www.baidu.com/", "https://claude.ai/"]) == ["DIRECT", "PROXY 127.0.0.1:8080"]


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
def test_several_guard_nodes_each_client_one_with_failover():
    pac = subprocess.run([*GUARD, "pac", "--guard", "g1:8080", "--guard", "g2:8080", "--guard", "g3:8080"],
                         capture_output=True, text=True, check=True).stdout
    firsts = set()
    for i in range(40):
        ip = f"10.20.{i // 10}.{i}"
        got = evaluate(pac, ["https://api.openai.com/", "https://chatgpt.com/", "https://www.baidu.com/"], ip)
        assert got[0] == got[1]                      # one node per client, for every AI host
        nodes = got[0].split("; ")
        assert sorted(nodes) == ["PROXY g1:8080", "PROXY g2:8080", "PROXY g3:8080"] and got[2] == "DIRECT"
        assert evaluate(pac, ["https://api.openai.com/"], ip) == [got[0]]  # stable for the client
        firsts.add(nodes[0])
    assert len(firsts) == 3                          # clients are spread over the nodes


def test_pac_bad_arguments_are_one_line():
    p = subprocess.run([*GUARD, "pac", "--guard", 'x";alert(1)//'], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    p = subprocess.run([*GUARD, "pac", "--catalog", "/nonexistent.yaml"], capture_output=True, text=True)
    assert p.returncode == 2 and "not found" in p.stderr


def test_hand_kept_pac_is_gone():
    assert not (Path(__file__).resolve().parents[2] / "deploy" / "proxy.pac").exists()
