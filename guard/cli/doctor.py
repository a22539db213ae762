"""`guard doctor`: run on a client machine, it checks what that machine needs for the guard.

The proxy answers; a TLS connection to a catalog host through it is intercepted (the guard's
certificate comes back); and each common client stack trusts the guard's CA: the system store,
Python (certifi, `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`), Node.js (`NODE_EXTRA_CA_CERTS`), Java
(the default keystore, or `javax.net.ssl.trustStore`) and git (`http.sslCAInfo`). What is missing
is printed with its fix in Chinese and English. A stack trusts the guard when its bundle holds a
certificate that signed the certificate the guard presented (or, with `--ca`, that very CA).
Never does it suggest turning verification off.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                  "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem")


@dataclass
class Check:
    name: str
    status: str            # ok | missing | skipped
    detail: str
    fix_zh: str = ""
    fix_en: str = ""


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this client machine: proxy, interception, CA trust per stack",
                       description="From a client machine: is the guard reachable, is a TLS request to a catalog "
                                   "host intercepted, and do the system store, Python, Node.js, Java and git trust "
                                   "the guard's CA? Prints what to fix (中文 / English); exit 1 when something is "
                                   "missing.")
    p.add_argument("--proxy", metavar="HOST:PORT",
                   help="the guard (default: from HTTPS_PROXY/https_proxy, else 127.0.0.1:8080)")
    p.add_argument("--host", default="api.openai.com", metavar="HOST",
                   help="a catalog host to open TLS to through the proxy (default api.openai.com)")
    p.add_argument("--ca", metavar="FILE", help="the guard's CA certificate (PEM), if you have it")
    p.add_argument("--system-store", metavar="FILE",
                   help="the system trust bundle (default: the first of " + ", ".join(SYSTEM_BUNDLES) + ")")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per network step (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object: {ok, checks: [...]}")
    p.set_defaults(func=run)


# -- certificates ----------------------------------------------------------------------------------------
def _load_bundle(path: str | Path):
    from cryptography import x509
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    with warnings.catch_warnings():  # old roots in system bundles (negative serials) are not our business
        warnings.simplefilter("ignore")
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            try:
                return [x509.load_der_x509_certificate(data)]
            except ValueError:
                return []


def _issued(ca, leaf) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
        return True
    except Exception:  # wrong issuer, wrong key type, bad signature: all "not this CA"
        return False


class Trust:
    """What 'trusts the guard' means for a bundle: it holds the guard's CA."""

    def __init__(self, leaf=None, ca=None):
        self.leaf, self.ca = leaf, ca

    def known(self) -> bool:
        return self.leaf is not None or self.ca is not None

    def holds(self, certs) -> bool:
        if not certs:
            return False
        if self.ca is not None:
            from cryptography.hazmat.primitives import hashes
            want = self.ca.fingerprint(hashes.SHA256())
            if any(c.fingerprint(hashes.SHA256()) == want for c in certs):
                return True
        if self.leaf is not None:
            return any(c.subject == self.leaf.issuer and _issued(c, self.leaf) for c in certs)
        return False


# -- the network checks ----------------------------------------------------------------------------------
def _proxy_address(value: str | None) -> tuple[str, int]:
    from guard.errors import GuardError
    raw = value or os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or "127.0.0.1:8080"
    raw = re.sub(r"^[a-z]+://", "", raw.strip()).split("@")[-1].rstrip("/")
    m = re.fullmatch(r"\[?([^\]\s]+?)\]?:(\d{1,5})", raw)
    if not m:
        raise GuardError(f"--proxy: {raw!r} is not HOST:PORT")
    return m.group(1), int(m.group(2))


def _probe(proxy: tuple[str, int], host: str, timeout: float):
    """CONNECT through the proxy and a TLS handshake that verifies nothing (we only look):
    (leaf, chain) as x509 objects, or an error string."""
    from OpenSSL import SSL
    sock = socket.create_connection(proxy, timeout=timeout)
    try:
        sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if not re.match(r"HTTP/1\.[01] 200", status):
            return f"the proxy refused CONNECT {host}:443 ({status or 'no answer'})"
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
        conn = SSL.Connection(ctx, sock)
        conn.set_tlsext_host_name(host.encode("idna"))
        conn.set_connect_state()
        sock.setblocking(False)
        while True:  # the handshake on a non-blocking socket, bounded by the timeout
            try:
                conn.do_handshake()
                break
            except (SSL.WantReadError, SSL.WantWriteError) as want:
                r, w = ([sock], []) if isinstance(want, SSL.WantReadError) else ([], [sock])
                if not select.select(r, w, [], timeout)[0 if r else 1]:
                    return f"TLS to {host} through the proxy timed out after {timeout:g} s"
        chain = [c.to_cryptography() for c in (conn.get_peer_cert_chain() or [])]
        leaf = conn.get_peer_certificate()
        leaf = leaf.to_cryptography() if leaf is not None else (chain[0] if chain else None)
        return leaf, chain
    except (OSError, SSL.Error) as e:
        return f"TLS to {host} through the proxy failed: {str(e) or type(e).__name__}"
    finally:
        sock.close()


def _public_bundle() -> str | None:
    """The public web PKI (Mozilla's list, as certifi ships it): what a real AI service's certificate chains to."""
    try:
        import certifi
        return certifi.where()
    except ImportError:
        return _system_bundle(None)


def _cn(name) -> str:
    from cryptography.x509.oid import NameOID
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME) or name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return attrs[0].value if attrs else name.rfc4514_string()


# -- the stacks ------------------------------------------------------------------------------------------
def _system_bundle(given: str | None) -> str | None:
    if given:
        return given
    return next((b for b in SYSTEM_BUNDLES if os.path.exists(b)), None)


FIX_SYSTEM = ("把 CA 装入系统证书库：Debian/Ubuntu 复制到 /usr/local/share/ca-certificates/ai-guard.crt 后运行 "
              "sudo update-ca-certificates（RHEL：/etc/pki/ca-trust/source/anchors/ 与 update-ca-trust；Windows 由组策略下发；"
              "macOS：security add-trusted-cert）",
              "install the CA in the system store: Debian/Ubuntu copy it to /usr/local/share/ca-certificates/ai-guard.crt "
              "and run sudo update-ca-certificates (RHEL: /etc/pki/ca-trust/source/anchors/ + update-ca-trust; Windows: "
              "GPO; macOS: security add-trusted-cert)")


def check_system(trust: Trust, bundle: str | None) -> Check:
    if bundle is None:
        return Check("system store", "skipped", "no system CA bundle found (pass --system-store FILE)")
    certs = _load_bundle(bundle)
    if certs is None:
        return Check("system store", "missing", f"cannot read {bundle}", *FIX_SYSTEM)
    if trust.holds(certs):
        return Check("system store", "ok", f"{bundle} trusts the guard's CA")
    return Check("system store", "missing", f"{bundle} does not hold the guard's CA", *FIX_SYSTEM)


def check_python(trust: Trust) -> Check:
    try:
        import certifi
        default = certifi.where()
    except ImportError:
        default = None
    used = {  # which bundle each common library reads
        "requests": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or default,
        "httpx/urllib/openai": os.environ.get("SSL_CERT_FILE") or default,
    }
    bad = [f"{lib} reads {path or 'no bundle'}" for lib, path in used.items()
           if not (path and trust.holds(_load_bundle(path)))]
    if not bad:
        return Check("python", "ok", "; ".join(f"{lib}: {path}" for lib, path in used.items()))
    return Check("python", "missing", "the guard's CA is not trusted: " + "; ".join(bad),
                 "系统证书库装好 CA 后，设置环境变量 SSL_CERT_FILE 与 REQUESTS_CA_BUNDLE 指向系统证书包"
                 "（如 /etc/ssl/certs/ca-certificates.crt），certifi 自带的证书包不含单位 CA",
                 "once the system store holds the CA, set SSL_CERT_FILE and REQUESTS_CA_BUNDLE to the system bundle "
                 "(e.g. /etc/ssl/certs/ca-certificates.crt); certifi's own bundle does not hold your CA")


def check_node(trust: Trust, system_ok: bool) -> Check:
    if not (shutil.which("node") or shutil.which("nodejs")):
        return Check("node", "skipped", "node is not installed")
    extra = os.environ.get("NODE_EXTRA_CA_CERTS")
    if extra and trust.holds(_load_bundle(extra)):
        return Check("node", "ok", f"NODE_EXTRA_CA_CERTS={extra}")
    opts = os.environ.get("NODE_OPTIONS", "")
    if system_ok and re.search(r"--use-(openssl|system)-ca\b", opts):
        return Check("node", "ok", f"NODE_OPTIONS={opts} (the system store)")
    why = f"NODE_EXTRA_CA_CERTS={extra} does not hold it" if extra else "NODE_EXTRA_CA_CERTS is not set"
    return Check("node", "missing", f"Node.js uses its own CA list: {why}",
                 "设置环境变量 NODE_EXTRA_CA_CERTS 指向单位 CA 证书文件（VS Code 及其扩展、Claude Code、Codex CLI 等 Node 程序都读它）",
                 "set NODE_EXTRA_CA_CERTS to the CA certificate file (VS Code and its extensions, Claude Code, "
                 "Codex CLI and other Node programs read it)")


def _java_store() -> tuple[list[str], str]:
    opts = " ".join(os.environ.get(v, "") for v in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"))
    store = re.search(r"-Djavax\.net\.ssl\.trustStore=(\S+)", opts)
    if store:
        pw = re.search(r"-Djavax\.net\.ssl\.trustStorePassword=(\S+)", opts)
        return ["-keystore", store.group(1), "-storepass", pw.group(1) if pw else "changeit"], store.group(1)
    return ["-cacerts", "-storepass", "changeit"], "the JDK's cacerts"


def check_java(trust: Trust, timeout: float) -> Check:
    keytool = shutil.which("keytool")
    if keytool is None:
        return Check("java", "skipped", "keytool is not installed (no Java here)")
    args, where = _java_store()
    try:
        out = subprocess.run([keytool, "-list", "-rfc", *args], capture_output=True, text=True, timeout=timeout * 3)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("java", "missing", f"keytool failed: {e}")
    from cryptography import x509
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out.stdout, re.S)
    certs = []
    for pem in pems:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                certs.append(x509.load_pem_x509_certificate(pem.encode()))
        except ValueError:
            pass
    if trust.holds(certs):
        return Check("java", "ok", f"{where} trusts the guard's CA")
    return Check("java", "missing", f"{where} does not hold the guard's CA",
                 "导入 Java 证书库：keytool -importcert -cacerts -alias ai-guard -file ai-guard-ca.pem"
                 "（JetBrains IDE：设置 → 工具 → 服务器证书，或使用系统证书库）",
                 "import it into Java's store: keytool -importcert -cacerts -alias ai-guard -file ai-guard-ca.pem "
                 "(JetBrains IDEs: Settings → Tools → Server Certificates, or "
                 "use the system store)")


def check_git(trust: Trust, system_bundle: str | None, timeout: float) -> Check:
    git = shutil.which("git")
    if git is None:
        return Check("git", "skipped", "git is not installed")
    path = os.environ.get("GIT_SSL_CAINFO")
    if not path:
        try:
            path = subprocess.run([git, "config", "--get", "http.sslCAInfo"], capture_output=True, text=True,
                                  timeout=timeout).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            path = None
    source = f"http.sslCAInfo={path}" if path else f"the system store ({system_bundle})"
    path = path or system_bundle
    if path and trust.holds(_load_bundle(os.path.expanduser(path))):
        return Check("git", "ok", f"git reads {source}")
    return Check("git", "missing", f"git reads {source}, which does not hold the guard's CA",
                 "系统证书库装好 CA 即可；或 git config --global http.sslCAInfo 指向含单位 CA 的证书包",
                 "trust the CA in the system store, or git config --global http.sslCAInfo PATH-TO-A-BUNDLE-WITH-IT")


# -- the command -----------------------------------------------------------------------------------------
def run(args) -> int:
    from guard.errors import GuardError
    checks: list[Check] = []
    proxy = _proxy_address(args.proxy)
    ca = None
    if args.ca:
        certs = _load_bundle(args.ca)
        if not certs:
            raise GuardError(f"--ca: {args.ca} holds no certificate")
        ca = certs[0]
    leaf = None
    try:
        socket.create_connection(proxy, timeout=args.timeout).close()
        checks.append(Check("proxy", "ok", f"{proxy[0]}:{proxy[1]} answers"))
    except OSError as e:
        checks.append(Check("proxy", "missing", f"cannot connect to {proxy[0]}:{proxy[1]}: {e.strerror or e}",
                            "检查代理设置（PAC / HTTPS_PROXY）与网络，或联系网络管理员：防护代理可能未运行",
                            "check the proxy setting (PAC / HTTPS_PROXY) and the network, or ask IT: the guard may "
                            "be down"))
    if checks[0].status == "ok":
        got = _probe(proxy, args.host, args.timeout)
        if isinstance(got, str):
            checks.append(Check("interception", "missing", got,
                                "确认该地址是 AI 防护代理，且目录包含此主机（guard pac --hosts）",
                                "make sure this is the guard and the host is in its catalog (guard pac --hosts)"))
        else:
            leaf, _chain = got
            if ca is not None:
                by_us = leaf is not None and _issued(ca, leaf)
            else:  # the real server's certificate is issued by a public CA; the guard's is not
                by_us = leaf is not None and not Trust(leaf).holds(_load_bundle(_public_bundle()) or [])
            if by_us:
                checks.append(Check("interception", "ok",
                                    f"TLS to {args.host} is opened by the guard (issuer: {_cn(leaf.issuer)})"))
            else:
                checks.append(Check("interception", "missing",
                                    f"TLS to {args.host} is not opened by the guard (issuer: "
                                    f"{_cn(leaf.issuer) if leaf is not None else '?'}): the proxy tunnels it",
                                    "该代理没有检查 AI 流量：请联系网络管理员",
                                    "this proxy does not inspect AI traffic: ask IT"))
                leaf = None
    trust = Trust(leaf, ca)
    if not trust.known():
        checks.append(Check("trust", "skipped", "no certificate from the guard to check trust against (pass --ca FILE)"))
    else:
        bundle = _system_bundle(args.system_store)
        system = check_system(trust, bundle)
        checks += [system, check_python(trust), check_node(trust, system.status == "ok"),
                   check_java(trust, args.timeout), check_git(trust, bundle, args.timeout)]
    ok = all(c.status != "missing" for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
        return 0 if ok else 1
    label = {"ok": "[ok]     ", "missing": "[缺失 MISSING]", "skipped": "[跳过 skipped]"}
    print(f"guard doctor: proxy {proxy[0]}:{proxy[1]}, catalog host {args.host}")
    for c in checks:
        print(f"  {label[c.status]} {c.name}: {c.detail}")
    fixes = [c for c in checks if c.status == "missing" and c.fix_en]
    if fixes:
        print("\n需要修复 / to fix:")
        for c in fixes:
            print(f"  - {c.name}: {c.fix_zh}\n    {c.fix_en}")
        print("不要关闭证书校验 / never turn TLS verification off: trust the CA instead.")
    else:
        print("\n一切正常 / all good")
    sys.stdout.flush()
    return 0 if ok else 1
