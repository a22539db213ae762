"""The credential space, generated: every family x every surrounding shape a developer pastes
(code, YAML, .env, JSON, XML, properties, shell history, curl, k8s env, Postman export, Chinese and
English prose) is blocked; look-alikes (placeholders, test keys, documentation samples, public
identifiers, hashes, public keys, UUIDs, commit SHAs, references, typed values) in the same shapes
pass. Values are random with valid checksums where the format has one."""
from __future__ import annotations

import random
import string
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def rnd(r: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def crc(r: random.Random, prefix: str) -> str:
    body = rnd(r, 30)
    n, tail = zlib.crc32(body.encode()), ""
    while n:
        n, x = divmod(n, 62)
        tail = B62[x] + tail
    return f"{prefix}_{body}{tail.rjust(6, '0')}"


def uuid(r: random.Random) -> str:
    return "-".join(rnd(r, n, HEX) for n in (8, 4, 4, 4, 12))


def password(r: random.Random) -> str:
    """What people set: words, digits and a symbol mixed, 10-16 characters."""
    parts = [rnd(r, r.randint(3, 5), string.ascii_letters), rnd(r, r.randint(2, 4), string.digits),
             r.choice("!@#$%^*_-."), rnd(r, r.randint(3, 5), ALNUM)]
    r.shuffle(parts)
    return "".join(parts)


# family -> (the name it is usually assigned to, a value maker). Names are what the provider's
# SDK or docs call the variable; values follow the provider's documented shape.
FAMILIES = {
    "github": ("GITHUB_TOKEN", lambda r: crc(r, r.choice(["ghp", "gho", "ghs", "ghu"]))),
    "github-fine": ("GH_PAT", lambda r: f"github_pat_{rnd(r, 22)}_{rnd(r, 59)}"),
    "gitlab": ("GITLAB_TOKEN", lambda r: f"{r.choice(['glpat', 'gldt', 'glrt', 'glptt'])}-{rnd(r, 20)}"),
    "npm": ("NPM_TOKEN", lambda r: crc(r, "npm")),
    "pypi": ("PYPI_TOKEN", lambda r: f"pypi-AgEIcHlwaS5vcmc{rnd(r, 70, ALNUM + '-_')}"),
    "dockerhub": ("DOCKERHUB_TOKEN", lambda r: f"dckr_pat_{rnd(r, 27)}"),
    "vault": ("VAULT_TOKEN", lambda r: f"hvs.{rnd(r, r.choice([24, 95]))}"),
    "terraform": ("TFE_TOKEN", lambda r: f"{rnd(r, 14).lower()}.atlasv1.{rnd(r, 64)}"),
    "doppler": ("DOPPLER_TOKEN", lambda r: f"dp.{r.choice(['pt', 'st', 'sa'])}.{rnd(r, 43)}"),
    "shopify": ("SHOPIFY_ACCESS_TOKEN", lambda r: f"{r.choice(['shpat', 'shpss', 'shpca'])}_{rnd(r, 32, HEX)}"),
    "linear": ("LINEAR_API_KEY", lambda r: f"lin_api_{rnd(r, 40)}"),
    "notion": ("NOTION_TOKEN", lambda r: f"ntn_{rnd(r, 11, string.digits)}{rnd(r, 35)}"),
    "figma": ("FIGMA_TOKEN", lambda r: f"figd_{rnd(r, 40, ALNUM + '-_')}"),
    "sentry": ("SENTRY_AUTH_TOKEN", lambda r: f"sntryu_{rnd(r, 64, HEX)}"),
    "newrelic": ("NEW_RELIC_API_KEY", lambda r: f"NRAK-{rnd(r, 27, UPPER)}"),
    "mailgun": ("MAILGUN_API_KEY", lambda r: r.choice([f"key-{rnd(r, 32, HEX)}", f"{rnd(r, 32, HEX)}-{rnd(r, 8, HEX)}-{rnd(r, 8, HEX)}"])),
    "datadog": ("DD_API_KEY", lambda r: rnd(r, 32, HEX)),
    "twilio": ("TWILIO_AUTH_TOKEN", lambda r: rnd(r, 32, HEX)),
    "atlassian": ("JIRA_API_TOKEN", lambda r: f"ATATT3xFfGF0{rnd(r, 180, ALNUM + '-_')}"),
    "jenkins": ("JENKINS_API_TOKEN", lambda r: f"11{rnd(r, 32, HEX)}"),
    "postman": ("POSTMAN_API_KEY", lambda r: f"PMAK-{rnd(r, 24, HEX)}-{rnd(r, 34, HEX)}"),
    "bitbucket": ("BITBUCKET_APP_PASSWORD", lambda r: f"ATBB{rnd(r, 32)}"),
    "jfrog": ("ARTIFACTORY_API_KEY", lambda r: f"AKCp{rnd(r, 69)}"),
    "azure-openai": ("AZURE_OPENAI_API_KEY", lambda r: rnd(r, 32, HEX)),
    "huggingface": ("HF_TOKEN", lambda r: f"hf_{rnd(r, 34)}"),
    "openai": ("OPENAI_API_KEY", lambda r: f"sk-proj-{rnd(r, 48, ALNUM + '_-')}"),
    "anthropic": ("ANTHROPIC_API_KEY", lambda r: f"sk-ant-api03-{rnd(r, 93, ALNUM + '_-')}AA"),
    "deepseek": ("DEEPSEEK_API_KEY", lambda r: f"sk-{rnd(r, 32, HEX)}"),
    "slack": ("SLACK_BOT_TOKEN", lambda r: f"xoxb-{rnd(r, 12, string.digits)}-{rnd(r, 13, string.digits)}-{rnd(r, 24)}"),
    "google": ("GOOGLE_API_KEY", lambda r: f"AIza{rnd(r, 35, ALNUM + '_-')}"),
    "stripe": ("STRIPE_SECRET_KEY", lambda r: f"sk_live_{rnd(r, 24)}"),
    "sendgrid": ("SENDGRID_API_KEY", lambda r: f"SG.{rnd(r, 22)}.{rnd(r, 43)}"),
    "telegram": ("TELEGRAM_BOT_TOKEN", lambda r: f"{rnd(r, 10, string.digits)}:AA{rnd(r, 33, ALNUM + '_-')}"),
    "aws": ("AWS_SECRET_ACCESS_KEY", lambda r: rnd(r, 40, ALNUM + "+/")),
    "aliyun-ak": ("ALIBABA_CLOUD_ACCESS_KEY_ID", lambda r: f"LTAI5t{rnd(r, 18)}"),
    "aliyun-sk": ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", lambda r: rnd(r, 30)),
    "tencent": ("TENCENTCLOUD_SECRET_KEY", lambda r: rnd(r, 32)),
    "tencent-id": ("TENCENTCLOUD_SECRET_ID", lambda r: f"AKID{rnd(r, 32)}"),
    "baidu": ("QIANFAN_API_KEY", lambda r: f"bce-v3/ALTAK-{rnd(r, 21)}/{rnd(r, 40, HEX)}"),
    "baidu-ak": ("BCE_ACCESS_KEY", lambda r: f"ALTAK{rnd(r, 21)}"),
    "volcengine": ("VOLC_SECRETKEY", lambda r: rnd(r, 60, ALNUM) + "=="),
    "volc-ark": ("ARK_API_KEY", uuid),
    "huawei": ("HUAWEICLOUD_SDK_SK", lambda r: rnd(r, 40)),
    "qiniu": ("QINIU_SECRET_KEY", lambda r: rnd(r, 40, ALNUM + "_-")),
    "ucloud": ("UCLOUD_PRIVATE_KEY", lambda r: rnd(r, 40)),
    "wechat-pay": ("WECHAT_PAY_API_V3_KEY", lambda r: rnd(r, 32)),
    "wechat": ("WECHAT_APP_SECRET", lambda r: rnd(r, 32, HEX)),
    "wecom": ("WECOM_CORP_SECRET", lambda r: rnd(r, 43, ALNUM + "_-")),
    "dingtalk": ("DINGTALK_SECRET", lambda r: f"SEC{rnd(r, 64, HEX)}"),
    "feishu": ("FEISHU_APP_SECRET", lambda r: rnd(r, 32)),
    "gitee": ("GITEE_TOKEN", lambda r: rnd(r, 32, HEX)),
    "zhipu": ("ZHIPUAI_API_KEY", lambda r: f"{rnd(r, 32, HEX)}.{rnd(r, 16)}"),
    "age": ("SOPS_AGE_KEY", lambda r: f"AGE-SECRET-KEY-1{rnd(r, 58, 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L')}"),
    "db-password": ("DB_PASSWORD", password),
    "jwt-secret": ("JWT_SECRET", lambda r: rnd(r, 48, ALNUM)),
    "passphrase": ("BACKUP_PASSPHRASE", lambda r: "-".join(r.choice(["harbor", "maple", "orbit", "canyon", "velvet", "lantern", "quartz",
                                                                          "meadow", "falcon", "ember"]) for _ in range(4))),
}


def _camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(w.title() for w in rest)


# shape -> text around (NAME, VALUE). Every shape is how a value reaches a prompt.
SHAPES = {
    "python": lambda n, v: f"这段代码报错了，帮我看看：\nimport os\n{n.lower()} = \"{v}\"\nclient = connect({n.lower()})",
    "java": lambda n, v: f"String {_camel(n)} = \"{v}\";\nClient c = Client.create({_camel(n)});",
    "go": lambda n, v: f"{_camel(n)} := \"{v}\"\nresp, err := call({_camel(n)})",
    "php": lambda n, v: f"return [\n    '{n.lower()}' => '{v}',\n];",
    "yaml": lambda n, v: f"app:\n  {n.lower().replace('_', '-')}: {v}\n  timeout: 30",
    "spring": lambda n, v: f"spring.cloud.{n.lower().replace('_', '.')}={v}\nserver.port=8080",
    "dotenv": lambda n, v: f"# .env\n{n}={v}\nLOG_LEVEL=debug",
    "json": lambda n, v: f'{{"{_camel(n)}": "{v}", "region": "cn-north-1"}}',
    "xml": lambda n, v: f"<config>\n  <{_camel(n)}>{v}</{_camel(n)}>\n</config>",
    "shell": lambda n, v: f"$ export {n}='{v}'\n$ ./deploy.sh --env prod",
    "compose": lambda n, v: f"services:\n  api:\n    environment:\n      - {n}={v}\n    image: corp/api:1.4",
    "k8s-env": lambda n, v: f"env:\n  - name: {n}\n    value: \"{v}\"\n  - name: LOG_LEVEL\n    value: info",
    "postman": lambda n, v: f'{{"values": [{{"key": "{n.lower()}", "value": "{v}", "enabled": true}}]}}',
    "terraform": lambda n, v: f'provider "corp" {{\n  {n.lower()} = "{v}"\n}}',
    "zh-prose": lambda n, v: f"我们生产环境的 {n} 是 {v}，为什么调用一直报 401？",
    "en-prose": lambda n, v: f"Our {n} is {v} and the API still says unauthorized, any idea?",
    "traceback": lambda n, v: f"Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n    "
                              f"init(\"{n.lower()}\", {n.lower()}=\"{v}\")\nAuthError: 401",
}
# A bare token without its name: only self-identifying formats are expected there.
BARE = {"github", "github-fine", "gitlab", "npm", "pypi", "dockerhub", "vault", "terraform", "doppler", "shopify", "linear", "notion",
        "figma", "sentry", "newrelic", "atlassian", "postman", "bitbucket", "jfrog", "huggingface", "openai", "anthropic", "deepseek",
        "slack", "google", "stripe", "sendgrid", "telegram", "aliyun-ak", "tencent-id", "baidu", "baidu-ak", "dingtalk", "age"}
BARE_SHAPES = {
    "curl": lambda v: f"curl -s https://api.corp.example/v1/me -H \"Authorization: Bearer {v}\"",
    "zh-bare": lambda v: f"这个 key 过期了吗：{v}",
    "log": lambda v: f"2026-12-01 10:00:01 DEBUG sending request with credential {v}",
}


def _is_credential(engine, text: str) -> bool:
    v = engine.scan_text(text)
    return v.action == "block" and any(r.startswith("credential.") for r in v.rules)


@pytest.mark.slow  # ~3-5 s: 400 generated pastes, most a new rule combination for the matcher to warm up
@settings(derandomize=True, max_examples=400, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)), shape=st.sampled_from(sorted(SHAPES)), seed=st.integers(0, 2**32))
def test_every_family_in_every_shape_is_blocked(engine, family, shape, seed):
    name, make = FAMILIES[family]
    text = SHAPES[shape](name, make(random.Random(seed)))
    assert _is_credential(engine, text), text


@settings(derandomize=True, max_examples=200, deadline=None)
@given(family=st.sampled_from(sorted(BARE)), shape=st.sampled_from(sorted(BARE_SHAPES)), seed=st.integers(0, 2**32))
def test_self_identifying_tokens_are_blocked_without_a_name(engine, family, shape, seed):
    text = BARE_SHAPES[shape](FAMILIES[family][1](random.Random(seed)))
    assert _is_credential(engine, text), text


def test_excerpts_show_at_most_four_characters_of_the_value(engine):
    r = random.Random(5)
    for family, (name, make) in sorted(FAMILIES.items()):
        value = make(r)
        for f in engine.scan_text(SHAPES["dotenv"](name, value)).findings:
            shown = f.excerpt.split("…")[0]
            assert len(shown) <= 4 and value not in f.excerpt, (family, f.excerpt)


# Look-alikes: (name, value maker). Names that mean secret hold placeholders, test keys and docs
# samples; other names hold identifiers, hashes and public keys.
LOOKALIKES = {
    "placeholder-your": ("OPENAI_API_KEY", lambda r: r.choice(["your-api-key-here", "YOUR_API_KEY", "<your-token>", "your_secret_here"])),
    "placeholder-x": ("API_KEY", lambda r: "x" * r.randint(16, 40)),
    "placeholder-stars": ("DB_PASSWORD", lambda r: "*" * r.randint(6, 12)),
    "placeholder-var": ("DB_PASSWORD", lambda r: r.choice(["${DB_PASSWORD}", "$DB_PASSWORD", "{{ .Values.db.password }}", "%DB_PASSWORD%"])),
    "placeholder-prefixed": ("GITHUB_TOKEN", lambda r: r.choice(["ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sk-xxxxxxxxxxxxxxxxxxxxxxxx",
                                                                 "sk-proj-...", "AKIAXXXXXXXXXXXXXXXX", "glpat-xxxxxxxxxxxxxxxxxxxx"])),
    "changeme": ("ADMIN_PASSWORD", lambda r: r.choice(["changeme", "change-me", "CHANGE_ME", "changeit", "password123", "P@ssw0rd"])),
    "typed": ("PASSWORD", lambda r: r.choice(["123456789012", "abcdefghijkl", "qwertyuiop", "aaaaaaaaaaaa", "abcabcabcabc", "11111111"])),
    "test-key": ("STRIPE_SECRET_KEY", lambda r: f"sk_test_{rnd(r, 24)}"),
    "test-key-restricted": ("STRIPE_KEY", lambda r: f"rk_test_{rnd(r, 24)}"),
    "sandbox": ("PLAID_SECRET", lambda r: f"access-sandbox-{uuid(r)}"),
    "docs-aws": ("AWS_SECRET_ACCESS_KEY", lambda r: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    "docs-aws-id": ("AWS_ACCESS_KEY_ID", lambda r: "AKIAIOSFODNN7EXAMPLE"),
    "docs-github": ("GITHUB_TOKEN", lambda r: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    "docs-jwt": ("ACCESS_TOKEN", lambda r: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIy"
                                           "fQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    "docs-mailgun": ("MAILGUN_API_KEY", lambda r: "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"),
    "reference": ("SECRET_KEY", lambda r: r.choice(["os.environ['SECRET_KEY']", "settings.SECRET_KEY", "process.env.API_KEY",
                                                    "${{ secrets.DEPLOY_TOKEN }}", "vault:secret/data/app#password"])),
    "app-id": ("WECHAT_APP_ID", lambda r: f"wx{rnd(r, 16, HEX)}"),
    "client-id": ("AZURE_CLIENT_ID", uuid),
    "feishu-app-id": ("FEISHU_APP_ID", lambda r: f"cli_{rnd(r, 16, HEX)}"),
    "ding-app-key": ("DINGTALK_APP_KEY", lambda r: f"ding{rnd(r, 16, string.ascii_lowercase + string.digits)}"),
    "twilio-sid": ("TWILIO_ACCOUNT_SID", lambda r: f"AC{rnd(r, 32, HEX)}"),
    "request-id": ("REQUEST_ID", uuid),
    "commit": ("GIT_COMMIT", lambda r: rnd(r, 40, HEX)),
    "sha256": ("CHECKSUM_SHA256", lambda r: rnd(r, 64, HEX)),
    "md5": ("FILE_MD5", lambda r: rnd(r, 32, HEX)),
    "bcrypt": ("PASSWORD_HASH", lambda r: f"$2b$12${rnd(r, 53, ALNUM + './')}"),
    "ssh-pub": ("SSH_PUBLIC_KEY", lambda r: f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rnd(r, 43, ALNUM + '+/')} ops@host"),
    "bad-checksum": ("EXAMPLE_FORMAT", lambda r: "ghp_" + rnd(r, 36)),
}


@settings(derandomize=True, max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(LOOKALIKES)), shape=st.sampled_from(sorted(SHAPES)), seed=st.integers(0, 2**32))
def test_lookalikes_in_every_shape_pass(engine, kind, shape, seed):
    name, make = LOOKALIKES[kind]
    text = SHAPES[shape](name, make(random.Random(seed)))
    v = engine.scan_text(text)
    assert not any(r.startswith("credential.") for r in v.rules), (text, v.rules)
