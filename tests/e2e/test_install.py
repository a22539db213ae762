"""The deploy kit run for real: `deploy/install.sh` into a temporary install root, the guard started
exactly as the installed unit's ExecStart says (its arguments, its user, groups, umask and working
directory), headless Chromium pointed at it with the generated PAC and the generated CA trusted.

Needs root (the kit creates a service user; a throwaway one is made and removed here)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from harness import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOOLS = ("runuser", "setpriv", "unshare", "useradd", "userdel")
MARKED = "机密★5年\n关于某区块储量评估的请示"
CLEAN = "请把这段话翻译成英文：今天天气很好。"



def _mount_namespaces() -> bool:
    """The unit is run in a private mount namespace (see home_exposed): a container may forbid it."""
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="install.sh creates a service user: run as root"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"),
    pytest.mark.skipif(os.geteuid() == 0 and shutil.which("unshare") is not None and not _mount_namespaces(),
                       reason="unshare --mount is not permitted here (a container without CAP_SYS_ADMIN)"),
]


def unit_settings(unit: Path) -> dict[str, str]:
    """The [Service] settings of a unit file, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", unit.read_text(encoding="utf-8"))
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


class Install:
    """install.sh into a fresh root, with its own service user and audit group."""

    def __init__(self):
        tag = f"aig{os.getpid() % 100000}"
        self.user, self.group = tag, f"{tag}-audit"
        # Every directory on the way must be open to the service user (pytest's tmp_path is not).
        self.base = Path(tempfile.mkdtemp(prefix="ai-guard-install-", dir="/tmp"))
        self.base.chmod(0o755)
        self.root = self.base / "root"
        self.port, self.metrics = free_port(), free_port()

    def run(self) -> subprocess.CompletedProcess:
        env = {**os.environ, "DESTDIR": str(self.root), "AI_GUARD_HOME": str(ROOT), "AI_GUARD_USER": self.user,
               "AI_GUARD_AUDIT_GROUP": self.group, "AI_GUARD_LISTEN": f"127.0.0.1:{self.port}",
               "AI_GUARD_METRICS": f"127.0.0.1:{self.metrics}"}
        return subprocess.run(["sh", str(ROOT / "deploy" / "install.sh")], env=env, capture_output=True, text=True,
                              timeout=180)

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "ai-guard"

    @property
    def var(self) -> Path:
        return self.root / "var" / "lib" / "ai-guard"

    def remove(self):
        subprocess.run(["userdel", self.user], capture_output=True)
        subprocess.run(["groupdel", self.group], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


_mountpoints: list[str] = []  # empty directories on the host (mount points inside the namespace only)


def home_exposed(base_prefix: str) -> str:
    """Shell lines for a private mount namespace in which an interpreter kept in a private home
    (pyenv under /root) is reachable, as it would be after install.sh's advice (an interpreter
    under /opt); nothing else of the home is visible."""
    if not base_prefix.startswith(("/root/", "/home/")):
        return ""
    top = "/" + base_prefix.split("/")[1]
    keep = tempfile.mkdtemp(prefix="ai-guard-python-", dir="/tmp")
    _mountpoints.append(keep)
    return (f"mount --bind {shlex.quote(base_prefix)} {keep} && mount -t tmpfs -o mode=0755 tmpfs {top} && "
            f"mkdir -p {shlex.quote(base_prefix)} && mount --bind {keep} {shlex.quote(base_prefix)} && ")


def as_the_unit(unit: Path, args_after: list[str], base_prefix: str) -> list[str]:
    """The unit's ExecStart with its User, Group, SupplementaryGroups, UMask, WorkingDirectory and
    Environment, as systemd would run it (`args_after` appended: the test's --map-remote)."""
    s = unit_settings(unit)
    command = shlex.split(s["ExecStart"]) + args_after
    env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={s.get('StateDirectory', '/')}",
           *shlex.split(s.get("Environment", ""))]
    inner = f"umask {s['UMask']} && cd {shlex.quote(s['WorkingDirectory'])} && exec {shlex.join(command)}"
    switch = ["setpriv", f"--reuid={s['User']}", f"--regid={s['Group']}",
              f"--groups={s['SupplementaryGroups'].replace(' ', ',')}", "--inh-caps=-all", "--no-new-privs"]
    script = home_exposed(base_prefix) + f"exec {shlex.join(switch)} -- {shlex.join(env)} sh -c {shlex.quote(inner)}"
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]


class FakeAI:
    """A loopback AI service (everything the guard intercepts is --map-remote'd here): answers
    any POST with the prompt's length, GET with a small page."""

    def __init__(self):
        self.received: list[tuple[str, str, bytes]] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                me.received.append(("GET", self.path, b""))
                self._send(b"<!doctype html><title>fake ai</title><p id=home>fake AI service</p>")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                me.received.append(("POST", self.path, body))
                self._send(b"<!doctype html><title>answer</title><p id=answer>answered by the fake AI</p>")

            def _send(self, data: bytes):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def serve(body: bytes, content_type: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def spki_hash(pem: Path) -> str:
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def submit_form(page, action: str, prompt: str):
    """What a chat page without script does: a form POST, a navigation."""
    with page.expect_navigation():
        page.evaluate("""([action, prompt]) => {
            const f = document.createElement('form'); f.method = 'POST'; f.action = action;
            const t = document.createElement('textarea'); t.name = 'prompt'; t.value = prompt;
            f.appendChild(t); document.body.appendChild(f); f.submit(); }""", [action, prompt])


def audit_records(audit: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(audit.rglob("*.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_install_then_run_as_the_unit_with_chromium_through_the_pac():
    playwright = pytest.importorskip("playwright.sync_api")
    inst = Install()
    proc = fake = pac_server = intranet = None
    try:
        first = inst.run()
        base_prefix = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", "import sys; print(sys.base_prefix)"],
                                     capture_output=True, text=True, check=True).stdout.strip()
        if base_prefix.startswith(("/root/", "/home/")):
            # This host's interpreter lives in a private home: install.sh must say so and how to fix it.
            assert first.returncode == 3, first.stderr
            assert "PROBLEM" in first.stderr and "ProtectHome" in first.stderr and "make install PY=" in first.stderr
        else:
            assert first.returncode == 0, first.stderr
        unit = inst.root / "etc" / "systemd" / "system" / "ai-guard.service"
        settings = unit_settings(unit)
        assert settings["User"] == inst.user and inst.group in settings["SupplementaryGroups"]
        assert f"{inst.etc}/policy.yaml" in settings["ExecStart"] and f"{inst.etc}/catalog.yaml" in settings["ExecStart"]
        groups = subprocess.run(["id", "-nG", inst.user], capture_output=True, text=True, check=True).stdout.split()
        assert inst.group in groups                      # a member of the audit group

        # The installed policy checks green, read as the service user reads it.
        check = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                home_exposed(base_prefix) + shlex.join(
                                    ["runuser", "-u", inst.user, "--", str(ROOT / ".venv" / "bin" / "guard"),
                                     "policy", "check", str(inst.etc / "policy.yaml")])],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout[-800:] + check.stderr[-800:]

        fake = FakeAI()
        log = inst.base / "guard.err"
        with open(log, "wb") as err:
            proc = subprocess.Popen(as_the_unit(unit, ["--map-remote", f"|^https://[^/]+|http://127.0.0.1:{fake.port}"],
                                                base_prefix), stdout=err, stderr=subprocess.STDOUT)
        wait_port(inst.port, proc, timeout=60, log=log)
        ca = inst.var / "mitmproxy" / "mitmproxy-ca-cert.pem"
        assert ca.exists() and (inst.var / "mitmproxy").stat().st_uid == int(
            subprocess.run(["id", "-u", inst.user], capture_output=True, text=True).stdout)

        pac = subprocess.run([str(ROOT / ".venv" / "bin" / "guard"), "pac", "--catalog", str(inst.etc / "catalog.yaml"),
                              "--guard", f"127.0.0.1:{inst.port}", "--intranet", "corp.example"],
                             capture_output=True, text=True, check=True).stdout
        pac_server = serve(pac.encode(), "application/x-ns-proxy-autoconfig")
        intranet_hits: list[str] = []

        class Intranet(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/":  # not the browser's /favicon.ico
                    intranet_hits.append(self.headers.get("host", ""))
                body = b"<!doctype html><p id=wiki>intranet wiki</p>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        intranet = ThreadingHTTPServer(("127.0.0.1", 0), Intranet)
        threading.Thread(target=intranet.serve_forever, daemon=True).start()

        args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--proxy-pac-url=http://127.0.0.1:{pac_server.server_address[1]}/proxy.pac",
                f"--ignore-certificate-errors-spki-list={spki_hash(ca)}",
                # Name resolution for the browser's own (DIRECT) connections only: the guard cannot
                # resolve these names, so reaching the intranet server proves the PAC said DIRECT.
                "--host-resolver-rules=MAP wiki.corp.example 127.0.0.1, MAP wiki 127.0.0.1"]
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            try:
                page = browser.new_page()
                page.goto("https://chat.deepseek.com/", timeout=60_000)
                assert page.locator("#home").count() == 1
                submit_form(page, "/api/v0/chat/completion", MARKED)
                html = page.content()
                assert "机密" in html and "evt-" in html and "fake AI" not in html   # the guard's page, not the answer
                event = re.search(r"evt-[0-9A-Za-z-]+", html).group(0)
                assert not any(MARKED.encode() in body or "机密".encode() in body for _, _, body in fake.received)
                page.goto("https://chat.deepseek.com/", timeout=60_000)
                submit_form(page, "/api/v0/chat/completion", CLEAN)
                assert page.locator("#answer").count() == 1
                assert any(m == "POST" and "prompt=" in body.decode() for m, _, body in fake.received)
                page.goto(f"http://wiki.corp.example:{intranet.server_address[1]}/", timeout=30_000)
                assert page.locator("#wiki").count() == 1
                page.goto(f"http://wiki:{intranet.server_address[1]}/", timeout=30_000)
                assert page.locator("#wiki").count() == 1
                assert [h.split(":")[0] for h in intranet_hits] == ["wiki.corp.example", "wiki"]
            finally:
                browser.close()

        # The trail: written by the service user, handed to the audit group (the bug was EPERM here).
        audit = inst.var / "audit"
        records = audit_records(audit)
        blocked = [r for r in records if r.get("event_id") == event]
        assert blocked and blocked[0]["action"] == "block", records[-3:]
        assert not any("wiki" in str(r.get("host", "")) for r in records)
        assert not any("audit.unavailable" in json.dumps(r) for r in records)
        for f in [*audit.rglob("*.jsonl"), *audit.rglob("head.json")]:
            st = f.stat()
            assert (st.st_mode & 0o777) == 0o640 and st.st_gid == int(
                subprocess.run(["getent", "group", inst.group], capture_output=True, text=True).stdout.split(":")[2])

        # Shadow AI: an OpenAI-compatible relay on a host outside the catalog, over HTTPS, through
        # the guard as an SDK or coding agent reaches it (explicit proxy): blocked in this default set-up.
        import ssl
        tls = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(proxy=f"http://127.0.0.1:{inst.port}", verify=tls, timeout=30) as c:
            relay = c.post("https://api.relay-zhongzhuan.example/v1/chat/completions",
                           json={"model": "gpt-4o", "messages": [{"role": "user", "content": MARKED}]})
            fine = c.post("https://api.relay-zhongzhuan.example/v1/chat/completions",
                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": CLEAN}]})
        assert relay.status_code == 403 and relay.headers["x-ai-guard-action"] == "block", relay.text[:300]
        assert relay.json()["error"]["message"] and fine.status_code == 200

        # The Responses API over a WebSocket: 426, so a coding agent falls back to HTTP (inspected).
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect
        with pytest.raises(InvalidStatus) as refused:
            connect("wss://api.openai.com/v1/responses", ssl=tls, proxy=f"http://127.0.0.1:{inst.port}",
                    open_timeout=15)
        assert refused.value.response.status_code == 426
        assert b"websocket_not_supported" in refused.value.response.body

        # guard doctor, from a client's point of view, against the installed guard and its CA.
        doc = subprocess.run([str(ROOT / ".venv" / "bin" / "guard"), "doctor", "--proxy", f"127.0.0.1:{inst.port}",
                              "--ca", str(ca), "--json", "--timeout", "60"], capture_output=True, text=True, timeout=300)
        checks = {c["name"]: c["status"] for c in json.loads(doc.stdout)["checks"]}
        assert checks["proxy"] == "ok" and checks["interception"] == "ok", doc.stdout
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in (fake, pac_server, intranet):
            if server is not None:
                (server.close if isinstance(server, FakeAI) else server.shutdown)()
        inst.remove()
        while _mountpoints:
            os.rmdir(_mountpoints.pop())
