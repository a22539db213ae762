"""The deployment kit: the systemd unit verifies, the firewall rules parse, keys are private."""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
GUARD = [sys.executable, "-m", "guard.cli.main"]


def test_unit_is_hardened():
    unit = (DEPLOY / "ai-guard.service").read_text(encoding="utf-8")
    for directive in ("User=ai-guard", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                      "CapabilityBoundingSet=\n", "LimitNOFILE=", "ReadWritePaths=/var/lib/ai-guard",
                      "StateDirectory=ai-guard", "UMask=0077", "ExecReload=/bin/kill -HUP $MAINPID",
                      "Restart=always", "--metrics 127.0.0.1:9464", "guard_audit_key="):
        assert directive in unit, directive


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path):
    # Paths pointed at this checkout, so the ExecStart binary exists; any warning fails too.
    unit = (DEPLOY / "ai-guard.service").read_text(encoding="utf-8").replace(
        "/opt/ai-guard/.venv/bin", str(Path(sys.executable).parent)).replace("/opt/ai-guard", str(ROOT))
    (tmp_path / "ai-guard.service").write_text(unit, encoding="utf-8")
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "ai-guard.service")],
                       capture_output=True, text=True, timeout=60)
    if "Failed to" in p.stderr and "systemd" in p.stderr and "ai-guard.service" not in p.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {p.stderr.strip()[:200]}")
    assert p.returncode == 0 and "ai-guard.service" not in p.stderr, p.stderr


@pytest.mark.skipif(shutil.which("nft") is None, reason="nftables (nft) is not installed")
def test_nftables_rules_parse_and_drop_quic():
    conf = (DEPLOY / "nftables.conf").read_text(encoding="utf-8")
    assert "udp dport 443" in conf and "@ai_v4" in conf and "@ai_v6" in conf
    p = subprocess.run(["nft", "-c", "-f", str(DEPLOY / "nftables.conf")], capture_output=True, text=True)
    if p.returncode and ("Operation not permitted" in p.stderr or "netlink" in p.stderr.lower()):
        pytest.skip(f"nft cannot check rules here: {p.stderr.strip()[:200]}")
    assert p.returncode == 0, p.stderr


def test_host_list_for_the_firewall():
    hosts = subprocess.run([*GUARD, "pac", "--hosts"], capture_output=True, text=True, check=True).stdout.split()
    assert "api.openai.com" in hosts and "chat.deepseek.com" in hosts
    assert not any("*" in h for h in hosts) and "blob.core.windows.net" not in hosts


def test_audit_keygen_is_private_and_never_overwrites(tmp_path):
    key = tmp_path / "audit.key"
    old = os.umask(0o022)
    try:
        p = subprocess.run([*GUARD, "audit", "keygen", str(key)], capture_output=True, text=True)
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    first = key.read_bytes()
    again = subprocess.run([*GUARD, "audit", "keygen", str(key)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr and key.read_bytes() == first


def test_install_script_is_valid_shell():
    for script in ("install.sh", "ai-hosts-nft.sh"):
        assert subprocess.run(["sh", "-n", str(DEPLOY / script)]).returncode == 0
