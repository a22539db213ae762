"""Outside the catalog nothing is touched; inside it, the upstream leg is real TLS too."""
import datetime as dt
import json
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from harness import Proxy
from upstream import Upstream


def make_ca_and_cert(d):
    """A private CA and a localhost/127.0.0.1 server certificate it signed."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guard test upstream CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return d / "ca.pem", d / "server.pem", d / "server.key"


@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory):
    ca, cert, key = make_ca_and_cert(tmp_path_factory.mktemp("pki"))
    with Upstream(tls=(str(cert), str(key))) as u:
        u.ca = ca
        yield u


MARKED = "机密★5年 关于某项目的报告"


def test_host_outside_the_catalog_is_not_intercepted(tmp_path, upstream, tls_upstream):
    """A tunnel to a host that is not an AI service: the client sees the server's own
    certificate (no interception) and the server gets the bytes as sent, marking and all."""
    p = Proxy(tmp_path, upstream)
    try:
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as raw:
            raw.sendall(f"CONNECT 127.0.0.1:{tls_upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:{tls_upstream.port}\r\n\r\n".encode())
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")
            ctx = ssl.create_default_context(cafile=str(tls_upstream.ca))  # trusts the server's CA only
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                issuer = dict(x[0] for x in tls.getpeercert()["issuer"])
                assert issuer["commonName"] == "guard test upstream CA"
                body = json.dumps({"messages": [{"role": "user", "content": MARKED}]}, ensure_ascii=False).encode()
                tls.sendall(b"POST /internal/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
                reply = b""
                while chunk := tls.recv(65536):
                    reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        assert tls_upstream.last("/internal/notes")["body"] == body
        assert not list(p.audit.glob("*.jsonl")) or "/internal/notes" not in "".join(
            f.read_text(encoding="utf-8") for f in p.audit.glob("*.jsonl"))
    finally:
        p.stop()


def test_upstream_leg_over_tls(tmp_path, upstream, tls_upstream):
    """An AI host mapped to an HTTPS upstream that mitmproxy verifies against a private CA."""
    p = Proxy(tmp_path, upstream, extra_maps=(f"|^https://api\\.openai\\.com|https://localhost:{tls_upstream.port}",),
              extra_args=("--set", f"ssl_verify_upstream_trusted_ca={tls_upstream.ca}"), default_map=False)
    try:
        with p.client() as c:
            clean = json.dumps({"model": "m", "messages": [{"role": "user", "content": "季度工作总结"}]},
                               ensure_ascii=False).encode()
            r = c.post("https://api.openai.com/v1/chat/completions?leg=tls", content=clean,
                       headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            assert tls_upstream.last("leg=tls")["body"] == clean
            before = len(tls_upstream.received)
            r = c.post("https://api.openai.com/v1/chat/completions?leg=tls", json={"messages": [{"content": MARKED}]})
            assert r.status_code == 403 and len(tls_upstream.received) == before
    finally:
        p.stop()


def test_upstream_with_an_untrusted_certificate_is_refused(tmp_path, upstream, tls_upstream):
    # The counterpart: without the private CA the same upstream is not trusted (so the
    # test above shows verification working, not skipped).
    p = Proxy(tmp_path, upstream, extra_maps=(f"|^https://api\\.openai\\.com|https://localhost:{tls_upstream.port}",),
              default_map=False)
    try:
        with p.client() as c:
            r = c.post("https://api.openai.com/v1/chat/completions?leg=untrusted", json={"messages": [{"content": "你好"}]})
        assert r.status_code == 502 and tls_upstream.last("leg=untrusted") is None
    finally:
        p.stop()
