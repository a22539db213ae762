"""`guard doctor` against a real guard (mitmdump with the addon, its own fresh CA): a client that
trusts nothing reports each missing stack with its fix; one configured as docs/clients.md says is green."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import Proxy, free_port  # noqa: E402
from upstream import Upstream  # noqa: E402

GUARD = [sys.executable, "-m", "guard.cli.main"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guard(tmp_path_factory):
    with Upstream() as up:
        p = Proxy(tmp_path_factory.mktemp("doctor"), up)
        yield p
        p.stop()


def clean_env(home: Path, **extra) -> dict:
    """A client user with no trust configured: no CA variables, an empty git config."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS",
                        "GIT_SSL_CAINFO", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "HTTPS_PROXY",
                        "https_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".config"), **extra)
    return env


def self_signed_ca() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def doctor(env, *args):
    # A generous per-step timeout: the guard's first answer waits for its start-up (workers) on a busy machine.
    if "--timeout" not in args:
        args = (*args, "--timeout", "60")
    p = subprocess.run([*GUARD, "doctor", *args], capture_output=True, text=True, env=env, timeout=300)
    return p


def test_reports_every_missing_trust_with_fixes(guard, tmp_path):
    system = tmp_path / "system.pem"                     # a system store without the guard's CA
    system.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
                       if Path("/etc/ssl/certs/ca-certificates.crt").exists() else b"")
    env = clean_env(tmp_path / "home")
    p = doctor(env, "--proxy", f"127.0.0.1:{guard.port}", "--system-store", str(system), "--json")
    assert p.returncode == 1, p.stderr
    got = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
    assert got["proxy"]["status"] == "ok" and got["interception"]["status"] == "ok"
    missing = [n for n, c in got.items() if c["status"] == "missing"]
    assert {"system store", "python", "git"} <= set(missing)
    if shutil.which("node"):
        assert "node" in missing and "NODE_EXTRA_CA_CERTS" in got["node"]["fix_en"]
    if shutil.which("keytool"):
        assert "java" in missing
    for name in missing:
        assert got[name]["fix_zh"] and got[name]["fix_en"]
        assert "verify=False" not in got[name]["fix_en"] and "NODE_TLS_REJECT_UNAUTHORIZED" not in got[name]["fix_en"]
    text = doctor(env, "--proxy", f"127.0.0.1:{guard.port}", "--system-store", str(system))
    assert text.returncode == 1 and "需要修复 / to fix" in text.stdout and "update-ca-certificates" in text.stdout


def test_configured_client_is_green(guard, tmp_path):
    ca = guard.confdir / "mitmproxy-ca-cert.pem"
    bundle = tmp_path / "system.pem"                     # the system store after update-ca-certificates
    base = Path("/etc/ssl/certs/ca-certificates.crt")
    bundle.write_bytes((base.read_bytes() if base.exists() else b"") + ca.read_bytes())
    home = tmp_path / "home"
    env = clean_env(home, SSL_CERT_FILE=str(bundle), REQUESTS_CA_BUNDLE=str(bundle), NODE_EXTRA_CA_CERTS=str(ca))
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", str(bundle)], env=env, check=True)
    if shutil.which("keytool"):
        store = tmp_path / "trust.p12"
        subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "ai-guard", "-file", str(ca), "-keystore",
                        str(store), "-storetype", "PKCS12", "-storepass", "changeit"], check=True, capture_output=True)
        env["JAVA_TOOL_OPTIONS"] = f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword=changeit"
    for extra in ([], ["--ca", str(ca)]):              # found from the guard's certificate, or given
        p = doctor(env, "--proxy", f"127.0.0.1:{guard.port}", "--system-store", str(bundle), "--json", *extra)
        checks = {c["name"]: c["status"] for c in json.loads(p.stdout)["checks"]}
        assert p.returncode == 0, p.stdout
        assert all(s in ("ok", "skipped") for s in checks.values()) and checks["python"] == "ok"
        assert checks["interception"] == "ok" and checks["system store"] == "ok"
    # Another CA given: the guard's certificate is not issued by it, so this is not the guard.
    other = tmp_path / "other-ca.pem"
    other.write_bytes(self_signed_ca())
    p = doctor(env, "--proxy", f"127.0.0.1:{guard.port}", "--ca", str(other), "--json")
    assert p.returncode == 1 and json.loads(p.stdout)["checks"][1]["status"] == "missing"


def test_unreachable_proxy_and_bad_arguments(tmp_path):
    env = clean_env(tmp_path / "home")
    p = doctor(env, "--proxy", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert p.returncode == 1 and "cannot connect" in p.stdout and "to fix" in p.stdout
    bad = doctor(env, "--proxy", "no-port-here")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
