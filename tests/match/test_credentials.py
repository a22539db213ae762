"""Credentials by family: two well-formed values and a near miss each, and a floor of things
that look like secrets but are not (placeholders, public keys, hashes, ids)."""
import base64
import json

import pytest

FAMILIES = {
    "credential.webhook": (
        ["curl -X POST https://hooks.slack.com/services/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",
         "飞书机器人：https://open.feishu.cn/open-apis/bot/v2/hook/0b8e2f4a-7c1d-4e9b-a3f6-5d2c8e1b7a40",
         "企业微信 https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1f2e3d4c-5b6a-4789-8a7b-6c5d4e3f2a1b",
         "https://oapi.dingtalk.com/robot/send?access_token=8f3a2b9c7d1e4f6a0b5c8d2e9f1a3b7c6d4e0f2a9b8c7d1e3f5a6b2c4d8e0f1a"],
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    "credential.stripe": (
        ["STRIPE_SECRET_KEY=sk_live_51NzQ8bLf2Hp7KmR4tV9wY3xE6q", "rk_live_51NzQ8bLf2Hp7KmR4tV9wY3xE6q8"],
        "STRIPE_SECRET_KEY=sk_test_51NzQ8bLf2Hp7KmR4tV9wY3xE6q"),
    "credential.messaging-token": (
        ["sg = SendGridAPIClient('SG.aBcD1234eFgH5678iJkL9m.NoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsT')",
         "TELEGRAM_TOKEN=6839201745:AAGk3lPq9RtVw2XyZ8bN4mC7dF1hJ5sL0aE", "hf_token = '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'",
         "mailgun: key-3ax6xnjp29jd6fds4gc373sgvjxteol0"],
        "telegram bot id 6839201745"),
    "credential.cloud-key": (
        ["ak = 'ALTAKq8Wm3Zr5Tn7Vb2Xc9Ls4'", "VOLC_ACCESSKEY=AKLTYjA2ZGM5NWE4ODk0NGEyYmIyMzQ0ZjVkNzY1ZDQyNmE",
         "HW_SECRET_KEY=\"Zx8Cv7Bn6Mq5Wr4Et3Ty2Ui1Op0AsDfGhJkLqWeRt\""],
        "AKLT 是火山引擎 AccessKey 的前缀"),
    "credential.registry-token": (
        ["npm config set //registry.npmjs.org/:_authToken npm_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78",
         "docker login -p dckr_pat_Q2w3E4r5T6y7U8i9O0pAsDfGh2J"],
        "npm_config_cache=/tmp/npm"),
    "credential.key-container": (
        ["PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: ops\nPrivate-Lines: 14",
         '{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","d":"X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q"}',
         "    client-key-data: " + base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA2a\n").decode(),
         json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": base64.b64encode(b"ci:Dk8#mPq2Zr").decode()}}})],
        '{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4","e":"AQAB"}'),
    "credential.azure-sas": (
        ["https://acct.blob.core.windows.net/docs/a.pdf?sv=2023-11-03&ss=b&srt=o&sp=r&se=2026-12-31T00:00:00Z&sig=aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2q%3D",
         "?sig=aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2q%3D&se=2026-12-31&sv=2023-11-03"],
        "https://acct.blob.core.windows.net/docs/a.pdf?sv=2023-11-03&sig=XXXX"),
    "credential.xml-password": (
        ["<password>Mvn$9kQz2Lp7</password>", "<add key=\"ClearTextPassword\" /><ClearTextPassword>Nu9#Gx2Lm8Qw</ClearTextPassword>"],
        "<password>${env.MAVEN_PASS}</password>"),
    "credential.ai-key": (
        ["ZHIPUAI_API_KEY=9c2f7a1e4b8d3f6a0e5c9b2d7a4f1e8c.Pq8Zr2Lm4Nb7Vc1K", "zhipu key 0a1b2c3d4e5f60718293a4b5c6d7e8f9.AbCdEfGh12345678"],
        "glm-4 的价格是多少"),
    "credential.connection-string": (
        ["amqps://admin:Rb7#kQz2Lp9w@mq.internal:5671/vhost", "redis://:Xk92LmQz7Rt4@10.0.0.8:6379/0"],
        "postgres://user:password@localhost/db"),
    "credential.private-key": (
        ["-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdGBF"],
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE"),
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
]


@pytest.mark.parametrize("text", FLOOR)
def test_false_positive_floor(engine, text):
    v = engine.scan_text(text)
    assert v.action == "allow", v.findings


# Every family of issue 15, whichever rule names it: two or more well-formed values and a near miss.
_P12 = None


def _pkcs12() -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    return pkcs12.serialize_key_and_certificates(b"id", ec.generate_private_key(ec.SECP256R1()), None, None,
                                                  BestAvailableEncryption(b"pw"))


BY_FAMILY = {
    "aws": (["aws_access_key_id=AKIAZ3MQ7RX2PLKW4D7N", "aws_secret_access_key = 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"],
            "AKIA 开头的是什么"),
    "gcp-service-account": ([json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "1a2b",
                                         "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----\n"}),
                             "GOOGLE_API_KEY=AIzaSyD3kL9mQ2pR7sT4vW8xZ1aB5cE6fG0hJ2k"],
                            '{"type": "service_account", "client_email": "svc@p.iam.gserviceaccount.com"}'),
    "azure": (["DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4MTIzNA==;",
               "https://a.blob.core.windows.net/c/f?sv=2023-11-03&se=2026-12-31&sr=b&sp=r&sig=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFi%3D"],
              "AccountName=acct;AccountKey=<your-key>"),
    "aliyun-tencent": (["ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI5tQ8xYz2AbCdEfGhIjKl", "SecretId: AKIDz8krbsJ5yKBZQpn74WFkmLPx3Rq9Wd2T"],
                       "LTAI 前缀是阿里云的"),
    "huawei-baidu-volc-jd-kingsoft": (["HUAWEICLOUD_SDK_AK=QW7ZRT4KLP2MNX8VB3CD", "BAIDU_AK=ALTAKq8Wm3Zr5Tn7Vb2Xc9Ls4",
                                       "ak=AKLTYjA2ZGM5NWE4ODk0NGEyYmIyMzQ0ZjVkNzY1ZDQyNmE", "JDC_7F4A9C2E1B8D6F3A5C9E2B7D4F1A"],
                                      "HUAWEICLOUD_SDK_AK=${HW_AK}"),
    "code-hosting": (["git remote set-url origin https://ci:ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6@github.com/o/r.git",
                      "GITLAB_TOKEN=glpat-x9Qm2RvT7wLp4ZsN8cJk", "GITEE_TOKEN=3f9c2a7e1b8d4f6a0c5e9b2d7a4f1e8c"],
                     "ghp_ 是 GitHub 令牌前缀"),
    "registries": (["//registry.npmjs.org/:_authToken=npm_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78",
                    "password = pypi-AgEIcHlwaS5vcmcCJDg3YjQ2ZjE5LTVkMmItNGE5ZS1iNzA0LWE4ZjYwOTBjNzQ1YQ",
                    "<server><password>Mvn$9kQz2Lp7</password></server>"],
                   "npm_config_registry=https://registry.npmmirror.com"),
    "chat-office": (["https://oapi.dingtalk.com/robot/send?access_token=8f3a2b9c7d1e4f6a0b5c8d2e9f1a3b7c6d4e0f2a9b8c7d1e3f5a6b2c4d8e0f1a",
                     "WX_APP_SECRET=3f9c2a7e1b8d4f6a0c5e9b2d7a4f1e8c",
                     "https://discord.com/api/webhooks/112233445566778899/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUv"],
                    "钉钉机器人文档 https://oapi.dingtalk.com/robot/send?access_token=XXXXXX"),
    "payment-messaging": (["sk_live_51NzQ8bLf2Hp7KmR4tV9wY3xE6q", "alipay_private_key=MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC3mJ8xq2Lz",
                           "mch_key: 8Kd92LmQz7Rt4Vw1Yb6Nc3Pf5Hj0Gs2U", "SK2a9f8e7d6c5b4a3928171605f4e3d2c1"],
                          "alipay_public_key=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3mJ8xq2Lz"),
    "ai-providers": (["OPENAI_API_KEY=sk-proj-Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9n",
                      "ANTHROPIC_API_KEY=sk-ant-api03-Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2q",
                      "DEEPSEEK_API_KEY=sk-3f9c2a7e1b8d4f6a0c5e9b2d7a4f1e8c", "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"],
                     "OPENAI_API_KEY=sk-..."),
    "databases": (["jdbc:mysql://app:Qw8#Lm2Zp7Rt@10.0.0.5:3306/erp", "spring.datasource.password=Dq7#Lp2Xm9Wz",
                   "mongodb+srv://svc:Mg0Pass2027x@cluster0.abcde.mongodb.net/db"],
                  "jdbc:mysql://localhost:3306/erp?user=app"),
    "private-keys": (["-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
                      "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1"],
                     "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
    "generic": (["DB_PASSWORD=Tr0ub4dor&3x", "redis:\n  password: \"Zq8#mLp2Xw9\"", "[smtp]\npassword = Sm7#pQ2wLx9",
                 "生产库 root 的密码是 Wn7#qLp29z", "运维口令：Ab12!xYz99"],
                "DB_PASSWORD=${DB_PASSWORD}"),
}


@pytest.mark.parametrize("family, text", [(f, t) for f, (pos, _) in BY_FAMILY.items() for t in pos])
def test_family_caught(engine, family, text):
    v = engine.scan_text(text)
    assert v.action == "block" and any(r.startswith("credential.") for r in v.rules), (family, v.rules)


@pytest.mark.parametrize("family, text", [(f, miss) for f, (_, miss) in BY_FAMILY.items()])
def test_family_near_miss(engine, family, text):
    v = engine.scan_text(text)
    assert not any(r.startswith("credential.") for r in v.rules), (family, v.rules)


def test_pkcs12_file_blocks(engine):
    v = engine.scan_bytes(_pkcs12(), filename="证书.p12")
    assert v.action == "block" and "uninspectable.encrypted" in v.rules
