"""Credentials by provider format: well-formed values (random bodies, valid checksums) are found
by the rule that names the provider, a near miss of each is not, and a floor of things that look
like secrets but are not (placeholders, public keys, hashes, ids) passes."""
import base64
import json
import random
import string
import zlib

import pytest

from guard.policy import load_policy

_R = random.Random(29)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_R.choice(alphabet) for _ in range(n))


def crc_token(prefix: str) -> str:
    """A GitHub/npm-format token: 30 random base62 characters and their CRC32 in 6 base62 digits,
    computed here from the published format, not by the implementation."""
    body = rnd(30)
    n, tail = zlib.crc32(body.encode()), ""
    while n:
        n, r = divmod(n, 62)
        tail = B62[r] + tail
    return f"{prefix}_{body}{tail.rjust(6, '0')}"


def uuid() -> str:
    return "-".join(rnd(n, HEX) for n in (8, 4, 4, 4, 12))


# rule id -> (texts it must find, a near miss it must not)
FAMILIES = {
    "credential.token.github": ([f"token {crc_token('ghp')}", f"GH_TOKEN={crc_token('gho')}", f"ghs = '{crc_token('ghs')}'"],
                                "ghp_" + rnd(36)),  # random tail: the checksum fails
    "credential.token.github-fine-grained": ([f"github_pat_{rnd(22)}_{rnd(59)}"], "github_pat_xxxxxxxxxx"),
    "credential.registry-token.npm": ([f"//registry.npmjs.org/:_authToken={crc_token('npm')}"], "npm_" + rnd(36)),
    "credential.token.gitlab": ([f"GITLAB_TOKEN=glpat-{rnd(20)}", f"gldt-{rnd(20)}", f"glrt-{rnd(20)}"], "glpat-xxxxxxxxxxxxxxxxxxxx"),
    "credential.token.grafana": ([f"glc_{rnd(48)}", f"glsa_{rnd(32)}_{rnd(8, HEX)}"], "glc_ 是 Grafana Cloud 令牌前缀"),
    "credential.token.vault": ([f"VAULT_TOKEN=hvs.{rnd(24)}", f"hvb.{rnd(140)}"], "hvs.xxxxxxxxxxxxxxxxxxxxxxxx"),
    "credential.token.terraform": ([f'token = "{rnd(14).lower()}.atlasv1.{rnd(64)}"'], "xxxx.atlasv1.yyyy"),
    "credential.token.doppler": ([f"DOPPLER_TOKEN=dp.pt.{rnd(43)}", f"dp.st.prd.{rnd(43)}"], "dp.pt.xxxxxxxx"),
    "credential.token.shopify": ([f"shpat_{rnd(32, HEX)}", f"shpss_{rnd(32, HEX)}"], "shpat_" + "0" * 32),
    "credential.token.linear": ([f"lin_api_{rnd(40)}"], "lin_api_" + "x" * 40),
    "credential.token.notion": ([f"ntn_{rnd(11, string.digits)}{rnd(35)}", f"secret_{rnd(43)}"], "secret_key_base"),
    "credential.token.figma": ([f"X-Figma-Token: figd_{rnd(40)}"], "figd_xxxxxxxx"),
    "credential.token.sentry": ([f"sntryu_{rnd(64, HEX)}"], "sntryu_" + "0" * 64),
    "credential.token.sentry-dsn": ([f"dsn: https://{rnd(32, HEX)}@o{rnd(6, string.digits)}.ingest.sentry.io/{rnd(7, string.digits)}"],
                                    "https://examplePublicKey@o0.ingest.sentry.io/0"),
    "credential.token.newrelic": ([f"NRAK-{rnd(27, string.ascii_uppercase + string.digits)}"], "NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX"),
    "credential.token.datadog": ([f"DD_API_KEY={rnd(32, HEX)}", f"DD-APPLICATION-KEY: {rnd(40, HEX)}"], "DD_API_KEY=<key>"),
    "credential.token.atlassian": ([f"ATATT3xFfGF0{rnd(180, ALNUM + '-_')}"], "ATATT3 前缀"),
    "credential.token.jenkins": ([f"java -jar jenkins-cli.jar -auth admin:11{rnd(32, HEX)} build app", f"JENKINS_API_TOKEN=11{rnd(32, HEX)}"],
                                 f"md5 11{rnd(32, HEX)}"),
    "credential.token.postman": ([f"PMAK-{rnd(24, HEX)}-{rnd(34, HEX)}"], "PMAK-xxxx"),
    "credential.token.bitbucket": ([f"ATBB{rnd(32)}"], "ATBBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    "credential.token.jfrog": ([f"AKCp{rnd(69)}"], "AKCp" + "x" * 69),
    "credential.token.slack": ([f"xoxb-{rnd(12, string.digits)}-{rnd(13, string.digits)}-{rnd(24)}"], "xoxb-xxxxxxxxxxxx"),
    "credential.token.google-api": ([f"AIza{rnd(35)}", f"GOCSPX-{rnd(28)}"], "AIza" + "x" * 35),
    "credential.ai-key.openai": ([f"sk-proj-{rnd(48)}"], "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    "credential.ai-key.anthropic": ([f"sk-ant-api03-{rnd(93)}AA"], "sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    "credential.ai-key.openai-compatible": ([f"DEEPSEEK_API_KEY=sk-{rnd(32, HEX)}"], "sk-1234567890abcdef1234567890abcdef"),
    "credential.ai-key.huggingface": ([f"HF_TOKEN=hf_{rnd(34)}"], "hf_hub_download(repo_id='x')"),
    "credential.ai-key.azure-openai": ([f"AZURE_OPENAI_API_KEY={rnd(32, HEX)}", f'-H "api-key: {rnd(32, HEX)}"'], "md5 " + rnd(32, HEX)),
    "credential.token.azure-ad": ([f"AZURE_CLIENT_SECRET={rnd(3)}8Q~{rnd(34)}"], "abc8Q~" + "x" * 34),
    "credential.ai-key.volcengine-ark": ([f"ARK_API_KEY={uuid()}"], f"request_id: {uuid()}"),
    "credential.ai-key.zhipu": ([f"ZHIPUAI_API_KEY={rnd(32, HEX)}.{rnd(16)}"], "glm-4 的价格是多少"),
    "credential.cloud-key.aliyun": ([f"LTAI5t{rnd(18)}"], "LTAI 前缀是阿里云的"),
    "credential.cloud-key.tencent": ([f"SecretId: AKID{rnd(32)}"], "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
    "credential.cloud-key.baidu": ([f"ALTAK{rnd(21)}", f"Bearer bce-v3/ALTAK-{rnd(21)}/{rnd(40, HEX)}"], "bce-v3/ALTAK-*********/614fb**********"),
    "credential.cloud-key.volcengine": ([f"VOLC_ACCESSKEY=AKLT{rnd(40)}"], "AKLT 是火山引擎 AccessKey 的前缀"),
    "credential.cloud-key.huawei": ([f"HUAWEICLOUD_SDK_AK={rnd(20, string.ascii_uppercase + string.digits)}", f"HW_SECRET_KEY=\"{rnd(40)}\""],
                                    "HUAWEICLOUD_SDK_AK=${HW_AK}"),
    "credential.cloud-key.qiniu": ([f"QINIU_SECRET_KEY={rnd(40)}"], "qiniu bucket: media-prod"),
    "credential.cloud-key.ucloud": ([f"UCLOUD_PRIVATE_KEY={rnd(40)}"], f"UCLOUD_PUBLIC_KEY={rnd(32)}"),
    "credential.cloud-key.jdcloud": ([f"JDC_{rnd(28, string.ascii_uppercase + string.digits)}"], "JDC_XXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
    "credential.payment.wechat-pay": ([f"api-v3-key: {rnd(32)}", f"mch_key={rnd(32)}"], "mch_id: 1900000109"),
    "credential.im-app.wechat": ([f"WECHAT_APP_SECRET={rnd(32, HEX)}"], f"APPID = 'wx{rnd(16, HEX)}'"),
    "credential.im-app.wecom": ([f"gettoken?corpid=ww{rnd(16, HEX)}&corpsecret={rnd(43, ALNUM + '-_')}"], "corpsecret=SECRET"),
    "credential.im-app.dingtalk": ([f"secret = 'SEC{rnd(64, HEX)}'"], "SEC 开头的加签密钥"),
    "credential.im-app.dingtalk-app": ([f"dingtalk.app-secret: {rnd(64)}"], f"dingtalk.app-key: ding{rnd(16, HEX)}"),
    "credential.im-app.feishu": ([f'{{"app_id": "cli_{rnd(16, HEX)}", "app_secret": "{rnd(32)}"}}'], f'{{"app_id": "cli_{rnd(16, HEX)}"}}'),
    "credential.registry-token.gitee": ([f"GITEE_TOKEN={rnd(32, HEX)}"], "gitee repo: corp/erp"),
    "credential.registry-token.pypi": ([f"password = pypi-AgEIcHlwaS5vcmc{rnd(60, ALNUM + '-_')}"], "pypi-simple index"),
    "credential.registry-token.dockerhub": ([f"docker login -p dckr_pat_{rnd(27)}"], "dckr_pat_ 开头"),
    "credential.registry-token.nuget": ([f"nuget push -k oy2{rnd(43, string.ascii_lowercase + string.digits)}"], "oy2 开头"),
    "credential.messaging-token.sendgrid": ([f"SG.{rnd(22)}.{rnd(43)}"], "SG.short.value"),
    "credential.messaging-token.twilio": ([f"SK{rnd(32, HEX)}"], "SK" + "0" * 32),
    "credential.messaging-token.twilio-auth": ([f"Client('AC{rnd(32, HEX)}', '{rnd(32, HEX)}')"], f"TWILIO_ACCOUNT_SID=AC{rnd(32, HEX)}"),
    "credential.messaging-token.mailgun-v2": ([f"requests.post(url, auth=('api', '{rnd(32, HEX)}-{rnd(8, HEX)}-{rnd(8, HEX)}'))"],
                                              f"build {rnd(32, HEX)}-{rnd(8, HEX)}-{rnd(8, HEX)}"),
    "credential.messaging-token.mailgun": ([f"key-{rnd(32, HEX)}"],
                                           "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"),  # Mailgun's docs sample
    "credential.messaging-token.telegram": ([f"TeleBot('{rnd(10, string.digits)}:AA{rnd(33)}')"], "telegram bot id 6839201745"),
    "credential.stripe": ([f"sk_live_{rnd(24)}", f"rk_live_{rnd(30)}"], f"sk_test_{rnd(24)}"),
    "credential.age-key": ([f"AGE-SECRET-KEY-1{rnd(58, 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L')}"], "AGE-SECRET-KEY-1..."),
    "credential.webhook": (
        [f"https://hooks.slack.com/services/T{rnd(8).upper()}/B{rnd(8).upper()}/{rnd(24)}",
         f"https://open.feishu.cn/open-apis/bot/v2/hook/{uuid()}",
         f"https://oapi.dingtalk.com/robot/send?access_token={rnd(64, HEX)}"],
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    "credential.key-container": (
        ["PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: ops\nPrivate-Lines: 14",
         "    client-key-data: " + base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA2a\n").decode(),
         json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"ci:Dk8#mPq2Zr").decode()}}})],
        '{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4","e":"AQAB"}'),
    "credential.azure-sas": (
        [f"https://acct.blob.core.windows.net/docs/a.pdf?sv=2023-11-03&ss=b&srt=o&sp=r&se=2026-12-31T00:00:00Z&sig={rnd(43)}%3D"],
        "https://acct.blob.core.windows.net/docs/a.pdf?sv=2023-11-03&sig=XXXX"),
    "credential.connection-string": (
        ["amqps://admin:Rb7#kQz2Lp9w@mq.internal:5671/vhost", f"redis://:{rnd(16)}@10.0.0.8:6379/0",
         f"jdbc:oracle:thin:scott/{rnd(12)}@//10.1.1.9:1521/ORCL", f"https://{crc_token('ghp')}@github.com/corp/x.git"],
        "postgres://user:password@localhost/db"),
    "credential.aws-access-key": ([f"aws_access_key_id = AKIA{rnd(16, string.ascii_uppercase + string.digits)}"], "AKIAIOSFODNN7EXAMPLE"),
    "credential.jwt": (["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
                       "eyJhbGciOiJIUzI1NiJ9 is a header"),
    "credential.private-key-der": ([f"alipay_private_key=MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ{rnd(40)}"],
                                   f"alipay_public_key=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{rnd(40)}"),
    "credential.private-key": (["-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdGBF"],
                               "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE"),
    "credential.cli-password": ([f"ldapsearch -x -D cn=admin,dc=corp -w {rnd(14)} -b dc=corp", f"mysql -uroot -p'{rnd(12)}' erp"],
                                "mysql -u root -p"),
}


@pytest.mark.parametrize("rule, text", [(r, t) for r, (pos, _) in FAMILIES.items() for t in pos])
def test_credential_found(engine, rule, text):
    v = engine.scan_text(text)
    assert v.action == "block" and rule in v.rules, (v.rules, [f.excerpt for f in v.findings])
    for f in v.findings:  # excerpts show at most the first four characters of a secret
        if f.rule == rule and rule != "credential.private-key":  # that one shows the PEM header line
            assert len(f.excerpt.split("…")[0]) <= 4, f.excerpt


@pytest.mark.parametrize("rule, text", [(r, miss) for r, (_, miss) in FAMILIES.items()])
def test_near_miss(engine, rule, text):
    assert rule not in engine.scan_text(text).rules


def test_every_credential_rule_names_its_provider_and_is_covered_here():
    """Each rule carries a Chinese title and the category, and this table exercises every one."""
    rules = [r for r in load_policy().rules if r.id.startswith("credential.")]
    for r in rules:
        assert r.title and r.category == "凭据" and r.description, r.id
    untested = {r.id for r in rules} - set(FAMILIES) - {"credential.secret-assignment"}
    assert not untested, untested


FLOOR = [
    "export OPENAI_API_KEY=your-api-key",
    "api_key = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx'",
    "STRIPE_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "token: <redacted>",
    "password: ******",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@host",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ",
    '"integrity": "sha512-Gk0tjHcgfL8BqCIvDVCgDLeK3OUQyKX6GtSbB2cl2nrZZU8E/m8K4GDlIsC8mpoYe7dIRhDHMF+0jWzG5U1A=="',
    "lodash@4.17.21: resolved https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz#679591c564c3bffaae8454cf0b3df370c3d6911c",
    "commit 3f786850e387550fdab836ed7d6dc881de23001b\nAuthor: dev",
    "ids: 123e4567-e89b-12d3-a456-426614174000, 9b2f6c1e-4a7d-4e3b-8f5a-2c1d7e9b0a64",
    "文档示例：https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX",
    "curl -u user:password https://api.example.com",
    "mysql -u root -p",
    # Published documentation samples, allowlisted by name in the policy.
    "jwt.io: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "export GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    # Public identifiers alone.
    "APPID = 'wx1662b5e803b61ba4'\nAccessKeyId 由控制台生成",
    "client_id: 8f3a2b9c7d1e4f6a0b5c8d2e9f1a3b7c",
    "TWILIO_ACCOUNT_SID=ACa41ecccc3fc1626e53a13043b026c48b",
    "feishu app_id: cli_92669653b7024721",
    "password_hash: $2b$12$KIXQJ8Zx1yq9Vd3Lk0aPOeW3n8Yq2r5t6u7v8w9x0y1z2a3b4c5d6",
]


@pytest.mark.parametrize("text", FLOOR)
def test_false_positive_floor(engine, text):
    v = engine.scan_text(text)
    assert v.action == "allow", v.findings


_P12 = None


def _pkcs12() -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    return pkcs12.serialize_key_and_certificates(b"id", ec.generate_private_key(ec.SECP256R1()), None, None,
                                                  BestAvailableEncryption(b"pw"))


def test_pkcs12_file_blocks(engine):
    v = engine.scan_bytes(_pkcs12(), filename="证书.p12")
    assert v.action == "block" and "uninspectable.encrypted" in v.rules


def test_checksum_decides_a_bare_github_token_but_an_assignment_still_counts(engine):
    """A token whose CRC32 tail fails is a hand-written sample when it stands alone; assigned to a
    name that says secret it is still a finding (a live token of another format, a paste)."""
    bad = "ghp_" + rnd(36)
    assert engine.scan_text(f"示例 {bad}").action == "allow"
    assert "credential.secret-assignment" in engine.scan_text(f"GITHUB_TOKEN={bad}").rules
    good = crc_token("ghp")
    assert "credential.token.github" in engine.scan_text(f"示例 {good}").rules


def test_keywords_are_a_complete_prefilter():
    """Every match of a credential rule's regex contains one of its keywords (case-insensitive),
    so a matcher that runs a regex only where its keywords hit loses nothing. Checked on every
    rule's examples and on the generated shapes."""
    import test_credential_shapes as shapes

    r = random.Random(3)
    texts = [e.text for rule in load_policy().rules for e in rule.examples_match]
    texts += [shape(name, make(r)) for name, make in shapes.FAMILIES.values() for shape in shapes.SHAPES.values()]
    for rule in load_policy().rules:
        if not rule.id.startswith("credential.") or rule.regex is None:
            continue
        words = [k.lower() for k in rule.keywords]
        for t in texts:
            for m in rule.regex.finditer(t):
                assert any(w in m.group(0).lower() for w in words), (rule.id, m.group(0)[:60])


# Code that handles secrets without holding one: names that say secret, values that are
# expressions, calls, lookups, defaults and prose (the secret to success is …).
CODE_FLOOR = [
    'def make_rev_args(username: str | None, password: HiddenText | None) -> CommandArgs:',
    'async def me(token: TokenData = Depends(get_token)):',
    'password = hashlib.sha256(pw.encode()).hexdigest()',
    'token = jwt.encode(payload, key, algorithm="HS256")',
    'if password == confirm_password:',
    'user.set_password(password)',
    'login(username, password)',
    'api_key = api_key or os.getenv("OPENAI_API_KEY")',
    'max_tokens = 4096',
    'token_ids = tokenizer.encode(text)',
    'secret = secrets.token_hex(32)',
    'password = getpass.getpass("Password: ")',
    'self.password = make_password(raw_password)',
    'access_token = create_access_token(identity=user.id)',
    'headers = {"Authorization": f"Bearer {token}"}',
    'headers = {"Authorization": "Bearer " + token}',
    'auth = HTTPBasicAuth(user, password)',
    "const token = localStorage.getItem('token');",
    'const password = req.body.password;',
    'String password = request.getParameter("password");',
    'password: { type: String, required: true, minlength: 8 },',
    'passwordEncoder.matches(rawPassword, user.getPassword())',
    '<input type="password" v-model="form.password" />',
    '"password": "string",',
    '"api_key": "sk-...",',
    'token: ${{ secrets.GITHUB_TOKEN }}',
    'DB_PASSWORD: ${DB_PASSWORD:-postgres}',
    "password = os.environ.get('DB_PASSWORD', 'postgres')",
    '密码：请联系管理员获取',
    '忘记密码了怎么办？',
    '密钥管理服务 KMS 的使用说明',
    'the secret to success is consistency2024',
    "token = response.json()['access_token']",
    'cred = DefaultAzureCredential()',
    'secret_key = Fernet.generate_key()',
    'print(f"token={token[:4]}...")',
    'assert check_password_hash(user.password_hash, password)',
    'pwd = os.getcwd()',
    'password_validators = [MinimumLengthValidator]',
    "app.config['SECRET_KEY'] = os.urandom(24)",
    'key = RSA.generate(2048)',
    'private_key = ec.generate_private_key(ec.SECP256R1())',
    "credentials = service_account.Credentials.from_service_account_file('sa.json')",
    'token_url = "https://oauth2.googleapis.com/token"',
    'pass_rate = compute_pass_rate(results)',
    'sk = SigningKey.generate(curve=SECP256k1)',
    'passphrase = input("Enter passphrase: ")',
    'export TOKEN=$(gcloud auth print-access-token)',
    'curl -H "Authorization: Bearer $(gcloud auth print-access-token)" https://x',
    'git config --global credential.helper store',
]


@pytest.mark.parametrize("text", CODE_FLOOR)
def test_code_that_handles_secrets_passes(engine, text):
    assert not any(r.startswith("credential.") for r in engine.scan_text(text).rules), text
