"""`guard policy import-gitleaks`: a dozen-rule gitleaks configuration becomes a policy whose
rules find what the gitleaks rules find; what RE2 cannot run is reported, not dropped silently."""
import subprocess
import sys
from pathlib import Path

import pytest

from guard import Engine
from guard.policy import load_policy

GUARD = str(Path(sys.executable).parent / "guard")
TOML = Path(__file__).resolve().parents[1] / "assets" / "gitleaks" / "gitleaks.toml"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("gl") / "gitleaks.yaml"
    p = subprocess.run([GUARD, "policy", "import-gitleaks", str(TOML), "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out, p.stderr


def test_conversion_reports_what_it_could_not_convert(imported):
    out, stderr = imported
    assert "converted 10 rule(s), skipped 2" in stderr
    assert "password-lookahead: regex not supported by RE2" in stderr
    assert "pkcs12-file: has no content regex" in stderr
    assert "password-lookahead" in out.read_text(encoding="utf-8")  # also noted in the file itself


@pytest.mark.parametrize("rule, text", [
    ("gitleaks.aws-access-token", "aws_access_key_id = AKIAZ3MQ7RX2PLKW4D7N"),
    ("gitleaks.github-pat", "token ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"),
    ("gitleaks.slack-webhook-url", "https://hooks.slack.com/services/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d6F5"),
    ("gitleaks.stripe-access-token", "key = sk_live_51HxQ2bKf9Zp3LmN7vR4"),
    ("gitleaks.generic-api-key", "api_token = 'q8W7e6R5t4Y3u2I1o0P9'"),
    ("gitleaks.private-key", "-----BEGIN OPENSSH PRIVATE KEY-----"),
    ("gitleaks.internal-project-code", "进度见 PRJ-2027-KLN 周报"),
    ("gitleaks.telegram-bot-api-token", "telegram 6839201745:AAGk3lPq9RtVw2XyZ8bN4mC7dF1hJ5sL0aE"),
    ("gitleaks.npm-access-token", "npm_ab12cd34ef56gh78ij90kl12mn34op56qr78"),
    ("gitleaks.sendgrid-api-token", "SG.ngevfqfyqlku0ufo8x5d1a.twl2igabf9dhotf-09kqef8tambihyzrnopkc-1s5cr"),
])
def test_converted_rules_find_their_examples(imported, rule, text):
    engine = Engine(load_policy(imported[0]))
    v = engine.scan_text(text)
    assert rule in v.rules, v.rules


@pytest.mark.parametrize("text", [
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",         # the global allowlist's stopword
    "api_key = 'client7e6R5t4Y3u2I1o0P9'",             # the rule's own stopword, in the secret
    "api_key = 'aaaaaaaaaaaaaaaaaaaa'",                # entropy: not a secret
])
def test_allowlists_and_entropy_carry_over(imported, text):
    assert Engine(load_policy(imported[0])).scan_text(text).action == "allow"


def test_bad_toml_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\nid = ", encoding="utf-8")
    p = subprocess.run([GUARD, "policy", "import-gitleaks", str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "TOML" in p.stderr
