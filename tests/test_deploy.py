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
                      "Restart=always", "--metrics 127.0.0.1:9464", "guard_audit_key=",
                      "SupplementaryGroups=ai-guard-audit", "--set guard_catalog=/etc/ai-guard/catalog.yaml",
                      "--set guard_audit_group=ai-guard-audit"):
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
    # Shared hosts (path-scoped in the catalog) stay out of the firewall sets: their addresses
    # carry other traffic too.
    assert "api.github.com" not in hosts and "x.com" not in hosts


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


# -- install.sh, run for real into an install root (it creates a throwaway service user: root only) --------
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None,
                                reason="install.sh creates a service user: run as root (useradd, runuser)")


@pytest.fixture
def kit(tmp_path):
    """A checkout to install from (its own policy tree, this venv) and a throwaway user."""
    home = tmp_path / "checkout"
    shutil.copytree(ROOT / "policies", home / "policies")
    (home / ".venv").symlink_to(Path(sys.executable).parent.parent)
    tag = f"aigd{os.getpid() % 100000}"
    env = {**os.environ, "DESTDIR": str(tmp_path / "root"), "AI_GUARD_HOME": str(home), "AI_GUARD_USER": tag,
           "AI_GUARD_AUDIT_GROUP": f"{tag}-audit"}
    yield home, tmp_path / "root", env
    subprocess.run(["userdel", tag], capture_output=True)
    subprocess.run(["groupdel", f"{tag}-audit"], capture_output=True)


def install(env) -> subprocess.CompletedProcess:
    p = subprocess.run(["sh", str(DEPLOY / "install.sh")], env=env, capture_output=True, text=True, timeout=180)
    # 3: installed, but the service user cannot run this interpreter (pyenv under /root here): said so.
    assert p.returncode in (0, 3), p.stderr
    if p.returncode == 3:
        assert "PROBLEM" in p.stderr and "make install PY=" in p.stderr
    return p


@needs_root
@pytest.mark.slow
def test_install_puts_the_whole_policy_tree_and_the_user_in_the_audit_group(kit):
    home, root, env = kit
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    units.chmod(0o755)
    install(env)
    assert stat.S_IMODE(units.stat().st_mode) == 0o755          # the system's directories are left as they are
    etc = root / "etc" / "ai-guard"
    kit_files = {str(f.relative_to(home / "policies")) for f in (home / "policies").rglob("*") if f.is_file()}
    installed = {str(f.relative_to(etc)) for f in etc.rglob("*") if f.is_file()}
    assert {("policy.yaml" if f == "default.yaml" else f) for f in kit_files} <= installed
    assert {"identity.yaml", "audit.key"} <= installed
    check = subprocess.run([*GUARD, "policy", "check", str(etc / "policy.yaml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-500:] + check.stderr[-500:]
    user = env["AI_GUARD_USER"]
    assert env["AI_GUARD_AUDIT_GROUP"] in subprocess.run(["id", "-nG", user], capture_output=True, text=True).stdout.split()
    assert stat.S_IMODE(etc.stat().st_mode) == 0o750 and stat.S_IMODE((etc / "policy.yaml").stat().st_mode) == 0o640
    unit = (root / "etc" / "systemd" / "system" / "ai-guard.service").read_text(encoding="utf-8")
    # The installed unit is the kit's with this install's paths and names, nothing else.
    back = (unit.replace(str(etc), "/etc/ai-guard").replace(str(root / "var/lib/ai-guard"), "/var/lib/ai-guard")
            .replace(str(home), "/opt/ai-guard").replace(env["AI_GUARD_AUDIT_GROUP"], "ai-guard-audit")
            .replace(f"User={user}", "User=ai-guard").replace(f"Group={user}", "Group=ai-guard"))
    assert back == (DEPLOY / "ai-guard.service").read_text(encoding="utf-8")


@needs_root
@pytest.mark.slow
def test_rerun_keeps_local_edits_and_upgrades_the_rest(kit):
    home, root, env = kit
    install(env)
    etc = root / "etc" / "ai-guard"
    key = (etc / "audit.key").read_bytes()
    edited = etc / "lists" / "code_names.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "本单位新增代号\n", encoding="utf-8")
    (etc / "identity.yaml").write_text("departments:\n  10.20.0.0/16: 研究院\n", encoding="utf-8")
    # A new kit version changes both a file edited here and one that was not.
    (home / "policies" / "lists" / "code_names.txt").write_text("新版代号\n", encoding="utf-8")
    rules = home / "policies" / "rules" / "personal.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "# kit v2\n", encoding="utf-8")
    again = install(env)
    assert "本单位新增代号" in edited.read_text(encoding="utf-8")                     # the local edit stays
    assert (etc / "lists" / "code_names.txt.kit-new").read_text(encoding="utf-8") == "新版代号\n"
    assert "kept your edit" in again.stdout
    assert (etc / "rules" / "personal.yaml").read_text(encoding="utf-8").endswith("# kit v2\n")  # upgraded
    assert "研究院" in (etc / "identity.yaml").read_text(encoding="utf-8")
    assert (etc / "audit.key").read_bytes() == key                                 # never replaced
    third = install(env)                                                           # nothing new: quiet
    assert "updated" not in third.stdout
