"""A held-out check of the credential rules: pastes written as whole documents (stack traces,
compose/CI/Terraform/Kubernetes/Spring files, shell history, Postman exports, curl lines,
connection strings, Chinese and English prose), with their own variable names and their own
seed, not the shapes the rules were developed against (test_credential_shapes.py) nor the
development sets. The bar is the acceptance bar: >= 97% of 120+ credentials caught, at most one
of 45 look-alikes flagged. Run with -s to see the figures."""
from __future__ import annotations

import base64
import random
import string
import zlib

import pytest

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
R = random.Random(20261204)


def s(n: int, alphabet: str = ALNUM) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def crc(prefix: str) -> str:
    body = s(30)
    n, tail = zlib.crc32(body.encode()), ""
    while n:
        n, x = divmod(n, 62)
        tail = B62[x] + tail
    return f"{prefix}_{body}{tail.rjust(6, '0')}"


def uid() -> str:
    return "-".join(s(n, HEX) for n in (8, 4, 4, 4, 12))


def words(k: int) -> str:
    pool = ["river", "stone", "amber", "cobalt", "willow", "harbor", "summit", "copper", "violet", "thunder", "meadow", "saffron"]
    return "".join(R.choice(pool).title() for _ in range(k))


def pw() -> str:
    return R.choice([s(4, string.ascii_letters) + "@" + s(4, string.digits) + s(3, string.ascii_letters),
                     s(3, string.ascii_uppercase) + s(5, string.ascii_lowercase) + "#" + s(2, string.digits),
                     words(3), s(6, ALNUM) + "!" + s(5, ALNUM)])


def positives() -> list[tuple[str, str]]:
    """(family, paste). Each family appears in several carriers."""
    P = []

    def add(family, *texts):
        P.extend((family, t) for t in texts)

    # Chinese clouds and platforms
    add("huawei", f"华为云 OBS 上传报 403：\nobs:\n  ak: {s(20, string.ascii_uppercase + string.digits)}\n  sk: {s(40)}\n  endpoint: obs.cn-north-4.myhuaweicloud.com",
        f"export HUAWEICLOUD_SDK_AK={s(20, string.ascii_uppercase + string.digits)}\nexport HUAWEICLOUD_SDK_SK={s(40)}\npython3 sync.py",
        f'BasicCredentials credentials = new BasicCredentials()\n    .withAk("{s(20, string.ascii_uppercase + string.digits)}")\n    .withSk("{s(40)}");')
    add("baidu", f"千帆调用报错 401：\ncurl -X POST https://qianfan.baidubce.com/v2/chat/completions -H 'Authorization: Bearer bce-v3/ALTAK-{s(21)}/{s(40, HEX)}'",
        f"QIANFAN_ACCESS_KEY=ALTAK{s(21)}\nQIANFAN_SECRET_KEY={s(32, HEX)}", f"config = BceClientConfiguration(credentials=BceCredentials('ALTAK{s(21)}', '{s(32, HEX)}'))")
    add("volc-ark", f"from volcenginesdkarkruntime import Ark\nclient = Ark(api_key=\"{uid()}\")",
        f"豆包接口一直 401，ARK_API_KEY={uid()} 是刚建的", f"volcengine:\n  access-key: AKLT{s(44)}\n  secret-key: {s(56)}==")
    add("qiniu", f"q = Auth('{s(40, ALNUM + '_-')}', '{s(40, ALNUM + '_-')}')\ntoken = q.upload_token(bucket)",
        f"qiniu.access-key={s(40, ALNUM + '_-')}\nqiniu.secret-key={s(40, ALNUM + '_-')}")
    add("ucloud", f"[ucloud]\npublic_key = {s(32)}\nprivate_key = {s(40)}", f"export UCLOUD_PRIVATE_KEY={s(40)}")
    add("tencent", f"cred = credential.Credential(\"AKID{s(32)}\", \"{s(32)}\")", f"tencentcloud:\n  secret-id: AKID{s(32)}\n  secret-key: {s(32)}",
        f"COS 签名不对，SecretKey 是 {s(32)}，帮我看看")
    add("aliyun", f"String accessKeyId = \"LTAI5t{s(18)}\";\nString accessKeySecret = \"{s(30)}\";",
        f"aliyun:\n  oss:\n    access-key-id: LTAI5t{s(18)}\n    access-key-secret: {s(30)}", f"阿里云 RAM 子账号的 AccessKey Secret：{s(30)}")
    add("wechat-pay", f"wechat:\n  pay:\n    mch-id: 1900{s(6, string.digits)}\n    api-v3-key: {s(32)}", f"wxpay.mch_key={s(32)}\nwxpay.mch_id=1900{s(6, string.digits)}",
        f'WechatPayConfig cfg = new RSAAutoCertificateConfig.Builder().merchantId("1900{s(6, string.digits)}").apiV3Key("{s(32)}").build();')
    add("wechat", f"小程序登录 40125：\nappid: wx{s(16, HEX)}\nappsecret: {s(32, HEX)}",
        f"GET https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx{s(16, HEX)}&secret={s(32, HEX)}")
    add("wecom", f"requests.get('https://qyapi.weixin.qq.com/cgi-bin/gettoken', params={{'corpid': 'ww{s(16, HEX)}', 'corpsecret': '{s(43, ALNUM + '_-')}'}})",
        f"https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww{s(16, HEX)}&corpsecret={s(43, ALNUM + '_-')}")
    add("dingtalk", f"DINGTALK_ROBOT_SECRET=SEC{s(64, HEX)}", f"dingtalk:\n  app-key: ding{s(16, 'abcdefghijklmnopqrstuvwxyz0123456789')}\n  app-secret: {s(64, ALNUM + '_-')}")
    add("feishu", f'lark_client = lark.Client.builder().app_id("cli_{s(16, HEX)}").app_secret("{s(32)}").build()',
        f'{{"app_id": "cli_{s(16, HEX)}", "app_secret": "{s(32)}"}}')
    add("gitee", f"git clone https://oauth2:{s(32, HEX)}@gitee.com/corp/erp.git", f"GITEE_ACCESS_TOKEN={s(32, HEX)}")
    # Dev platforms and SaaS
    add("vault", f"$ vault login {R.choice(['hvs.' + s(24), 'hvs.CAESI' + s(86)])}", f"X-Vault-Token: hvs.{s(24)}", f"VAULT_TOKEN=hvb.{s(140)}")
    add("terraform", f'credentials "app.terraform.io" {{\n  token = "{s(14).lower()}.atlasv1.{s(67)}"\n}}', f"TF_TOKEN_app_terraform_io={s(14).lower()}.atlasv1.{s(67)}")
    add("doppler", f"doppler run --token dp.st.prd.{s(43)} -- npm start", f"DOPPLER_TOKEN=dp.pt.{s(43)}")
    add("shopify", f"X-Shopify-Access-Token: shpat_{s(32, HEX)}", f"SHOPIFY_API_SECRET=shpss_{s(32, HEX)}")
    add("linear", f"const linear = new LinearClient({{ apiKey: 'lin_api_{s(40)}' }})", f"LINEAR_API_KEY=lin_api_{s(40)}")
    add("notion", f"notion = Client(auth=\"ntn_{s(11, string.digits)}{s(35)}\")", f"NOTION_API_KEY=secret_{s(43)}")
    add("figma", f"curl -H 'X-Figma-Token: figd_{s(40, ALNUM + '-_')}' https://api.figma.com/v1/files/abc", f"FIGMA_ACCESS_TOKEN=figd_{s(40, ALNUM + '-_')}")
    add("sentry", f"sentry_sdk.init(dsn=\"https://{s(32, HEX)}@o{s(6, string.digits)}.ingest.sentry.io/{s(7, string.digits)}\")",
        f"SENTRY_AUTH_TOKEN=sntryu_{s(64, HEX)}", f"sentry-cli --auth-token sntrys_eyJpYXQiOjE3MzM{s(120, ALNUM + '+/')}_{s(43)} releases list")
    add("newrelic", f"NEW_RELIC_API_KEY=NRAK-{s(27, string.ascii_uppercase + string.digits)}", f"newrelic.license_key = {s(36, HEX)}NRAL")
    add("mailgun", f"requests.post(url, auth=('api', '{s(32, HEX)}-{s(8, HEX)}-{s(8, HEX)}'))", f"MAILGUN_API_KEY=key-{s(32, HEX)}")
    add("datadog", f"DD_API_KEY={s(32, HEX)}\nDD_SITE=datadoghq.com", f"curl -H \"DD-API-KEY: {s(32, HEX)}\" -H \"DD-APPLICATION-KEY: {s(40, HEX)}\" https://api.datadoghq.com/api/v1/validate")
    add("twilio", f"account_sid = 'AC{s(32, HEX)}'\nauth_token = '{s(32, HEX)}'\nclient = Client(account_sid, auth_token)",
        f"twilio api:core:messages:create --from +15005550006 --to +8613800000000 -u SK{s(32, HEX)}:{s(32)}")
    add("atlassian", f"curl -u ops@corp.example:ATATT3xFfGF0{s(180, ALNUM + '-_')} https://corp.atlassian.net/rest/api/3/myself",
        f"JIRA_API_TOKEN={s(24)}")
    add("jenkins", f"curl -X POST http://jenkins.corp:8080/job/deploy/build --user admin:11{s(32, HEX)}", f"jenkins.api-token=11{s(32, HEX)}")
    add("postman", f"curl https://api.getpostman.com/collections -H 'X-Api-Key: PMAK-{s(24, HEX)}-{s(34, HEX)}'",
        f'{{"id": "{uid()}", "name": "prod", "values": [{{"key": "apiKey", "value": "{s(32)}", "type": "secret", "enabled": true}}]}}')
    add("gitlab", f"git remote add origin https://oauth2:glpat-{s(20, ALNUM + '_-')}@gitlab.corp.example/infra/k8s.git",
        f"variables:\n  DEPLOY_TOKEN: gldt-{s(20)}", f"gitlab-runner register --token glrt-{s(20)}")
    add("grafana", f"GRAFANA_CLOUD_TOKEN=glc_{s(60, ALNUM + '+/')}=", f"Authorization: Bearer glsa_{s(32)}_{s(8, HEX)}")
    add("bitbucket", f"git clone https://ci-bot:ATBB{s(32)}@bitbucket.org/corp/app.git", f"BITBUCKET_APP_PASSWORD=ATBB{s(32)}")
    add("jfrog", f"curl -H 'X-JFrog-Art-Api: AKCp{s(69)}' https://corp.jfrog.io/artifactory/api/repositories", f"artifactory_api_key: AKCp{s(69)}")
    add("azure-openai", f"client = AzureOpenAI(azure_endpoint='https://corp.openai.azure.com/', api_key='{s(32, HEX)}', api_version='2024-06-01')",
        f"curl https://corp.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01 -H \"api-key: {s(32, HEX)}\"")
    add("huggingface", f"huggingface-cli login --token hf_{s(34)}", f"from huggingface_hub import login\nlogin(\"hf_{s(34)}\")")
    add("github", f"git remote set-url origin https://x-access-token:{crc('ghs')}@github.com/corp/app.git", f"export GH_TOKEN={crc('ghp')}",
        f"token {crc('gho')} 这个还能用吗", f"- uses: actions/checkout@v4\n  with:\n    token: {crc('ghp')}")
    add("npm", f"//registry.npmjs.org/:_authToken={crc('npm')}", f"npm 发布报 E401，令牌：{crc('npm')}")
    add("openai", f"OPENAI_API_KEY=sk-proj-{s(56, ALNUM + '_-')}", f"client = OpenAI(api_key='sk-{s(20)}T3BlbkFJ{s(20)}')")
    add("anthropic", f"anthropic.Anthropic(api_key=\"sk-ant-api03-{s(93, ALNUM + '_-')}AA\")")
    add("moonshot", f"MOONSHOT_API_KEY=sk-{s(48)}", f"dashscope.api_key = \"sk-{s(32, HEX)}\"")
    add("stripe", f"Stripe.apiKey = \"sk_live_{s(99)}\";", f"STRIPE_RESTRICTED_KEY=rk_live_{s(60)}")
    add("slack", f"SLACK_BOT_TOKEN=xoxb-{s(12, string.digits)}-{s(13, string.digits)}-{s(24)}", f"app = App(token='xapp-1-A{s(10, string.ascii_uppercase + string.digits)}-{s(13, string.digits)}-{s(64, HEX)}')")
    add("google", f"<meta-data android:name=\"com.google.android.geo.API_KEY\" android:value=\"AIza{s(35, ALNUM + '_-')}\"/>",
        f"client_secret_{s(10, string.digits)}.json: {{\"client_secret\": \"GOCSPX-{s(28, ALNUM + '_-')}\"}}")
    add("sendgrid", f"sg = sendgrid.SendGridAPIClient('SG.{s(22, ALNUM + '_-')}.{s(43, ALNUM + '_-')}')")
    add("telegram", f"TELEGRAM_TOKEN={s(10, string.digits)}:AA{s(33, ALNUM + '_-')}")
    add("dockerhub", f"echo dckr_pat_{s(27, ALNUM + '_-')} | docker login -u corp --password-stdin")
    add("pypi", f"[pypi]\n  username = __token__\n  password = pypi-AgEIcHlwaS5vcmc{s(80, ALNUM + '_-')}")
    add("aws", f"[prod]\naws_access_key_id = AKIA{s(16, string.ascii_uppercase + string.digits)}\naws_secret_access_key = {s(40, ALNUM + '+/')}")
    add("age", f"# public key: age1{s(58, 'qpzry9x8gf2tvdw0s3jn54khce6mua7l')}\nAGE-SECRET-KEY-1{s(58, 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L')}")
    add("zhipu", f"ZHIPUAI_API_KEY={s(32, HEX)}.{s(16)}")
    # URLs and connection strings with passwords
    add("amqp", f"spring.rabbitmq.addresses=amqp://mq_user:{words(2)}@10.3.2.1:5672/prod", f"CELERY_BROKER_URL=amqps://celery:{pw()}@mq.internal:5671//")
    add("redis", f"REDIS_URL=redis://default:{pw()}@redis-prod.internal:6379/0", f"redis.Redis.from_url('rediss://:{s(24)}@cache.corp:6380')")
    add("mongo", f"MONGODB_URI=mongodb+srv://app:{pw()}@cluster0.ab12c.mongodb.net/prod?retryWrites=true",
        f"mongoose.connect('mongodb://admin:{pw()}@10.0.5.7:27017/shop?authSource=admin')")
    add("jdbc", f"spring.datasource.url=jdbc:sqlserver://10.2.0.4:1433;databaseName=erp;user=sa;password={pw()};",
        f"jdbc:postgresql://pg.internal:5432/mes?user=mes&password={pw()}&ssl=true",
        f"url: jdbc:oracle:thin:erp/{pw()}@10.1.1.20:1521:ORCL", f"sqlplus system/{pw()}@//10.1.1.20:1521/orcl")
    # Keys and secrets without a vendor
    add("jwt-secret", f"jwt:\n  secret: {s(48)}\n  expiration: 86400", f"JWT_SIGNING_KEY={s(64, HEX)}", f"SECRET_KEY = 'django-insecure-{s(50, ALNUM + '!@#$%^*(-_=+)')[:50]}'")
    add("ldap", f"ldapsearch -x -H ldaps://ad.corp.example -D 'CN=svc-ldap,OU=Svc,DC=corp' -w '{pw()}' -b 'DC=corp' '(sAMAccountName=zhang*)'",
        f"ldapmodify -x -D cn=admin,dc=corp,dc=cn -w {pw()} -f add_user.ldif")
    add("cli", f"mysql -h 10.20.1.5 -u report -p{pw()} -e 'select count(*) from orders'", f"sqlcmd -S 10.1.0.9 -U sa -P '{pw()}' -i init.sql",
        f"keytool -genkeypair -alias web -keystore web.jks -storepass {pw()}", f"docker login registry.corp.example -u ci -p {pw()}")
    add("passphrase", f"backup:\n  passphrase: \"{words(4)}\"", f"the wifi password is {words(3)}", f"restic repo password: {'-'.join(R.choice(['tiger', 'maple', 'orbit', 'quartz', 'falcon', 'velvet']) for _ in range(4))}")
    add("zh-prose", f"测试环境数据库的密码一般是 {pw()}，生产的问运维", f"VPN 口令设的是 {pw()}，连不上怎么办", f"服务器的 root 密码改成了 {pw()}，之前那个作废了",
        f"堡垒机账号 zhangwei，密码：{pw()}")
    add("en-prose", f"FYI the admin password for the staging Grafana is {pw()} - please rotate after the demo", f"Use this token: {s(40)} for the nightly job")
    add("http", f"GET /api/v1/orders HTTP/1.1\nHost: erp.corp.example\nAuthorization: Bearer {s(48, ALNUM + '-_.')}",
        f"curl https://api.partner.example/v2/items -H \"Authorization: Basic {base64.b64encode(f'svc:{pw()}'.encode()).decode()}\"",
        f"headers = {{'X-API-Key': '{s(40)}'}}")
    add("yaml-k8s", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  DB_PASSWORD: {pw()}\n  DB_USER: app",
        f"env:\n  - name: REDIS_PASSWORD\n    value: \"{pw()}\"")
    add("compose", f"services:\n  db:\n    image: mysql:8\n    environment:\n      MYSQL_ROOT_PASSWORD: {pw()}\n      MYSQL_DATABASE: erp")
    add("terraform-var", f'resource "azurerm_mssql_server" "db" {{\n  administrator_login          = "sqladmin"\n  administrator_login_password = "{pw()}"\n}}')
    add("traceback", f"Traceback (most recent call last):\n  File \"/srv/app/db.py\", line 41, in connect\n    conn = psycopg2.connect(host='10.0.3.3', user='app', password='{pw()}')\npsycopg2.OperationalError: timeout")
    add("history", f"  512  export PGPASSWORD='{pw()}'\n  513  psql -h 10.9.0.3 -U postgres", f"  88  sshpass -p '{pw()}' ssh root@10.0.0.21")
    add("xml", f"<settings><servers><server><id>nexus</id><username>deploy</username><password>{pw()}</password></server></servers></settings>",
        f"<add key=\"ClearTextPassword\" value=\"{pw()}\" />")
    add("php", f"'mysql' => [\n    'driver' => 'mysql',\n    'password' => '{pw()}',\n],")
    add("kotlin", f"val dbPass = \"{pw()}\"\nval ds = HikariDataSource().apply {{ password = dbPass }}")
    return P


def lookalikes() -> list[tuple[str, str]]:
    return [
        ("docs-aws", "AWS 文档里的示例：\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("docs-jwt", "jwt.io 上的例子 eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c 怎么解码？"),
        ("docs-jwt-shape", "JWT 形如 xxxxx.yyyyy.zzzzz，三段用点分隔"),
        ("docs-github", "GitHub 文档示例：Authorization: token ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("bad-checksum", f"PAT 的格式大概是这样：ghp_{s(36)}（40 个字符）"),
        ("placeholder-env", "OPENAI_API_KEY=your-api-key-here\nANTHROPIC_API_KEY=<your-anthropic-key>\nDEEPSEEK_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("placeholder-yaml", "spring:\n  datasource:\n    password: ${DB_PASSWORD}\n  redis:\n    password: ${REDIS_PASSWORD:}"),
        ("placeholder-helm", "password: {{ .Values.postgresql.auth.password | quote }}"),
        ("placeholder-ansible", "mysql_root_password: \"{{ vault_mysql_root_password }}\""),
        ("placeholder-gha", "env:\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n  GH_TOKEN: ${{ github.token }}"),
        ("placeholder-stars", "2026-12-01 10:00:01 INFO connect user=app password=******** token=[REDACTED]"),
        ("placeholder-changeme", "默认管理员密码是 changeme，首次登录后必须修改"),
        ("placeholder-xxx", "WECHAT_PAY_API_V3_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("placeholder-curl", "curl https://api.example.com/v1/models -H \"Authorization: Bearer $OPENAI_API_KEY\""),
        ("placeholder-zh", "把 AccessKey Secret 填到 <你的AccessKeySecret> 这里，注意不要提交到仓库"),
        ("test-stripe", f"STRIPE_SECRET_KEY=sk_test_{s(24)}\nSTRIPE_PUBLISHABLE_KEY=pk_test_{s(24)}"),
        ("publishable", f"const stripe = Stripe('pk_live_{s(24)}');"),
        ("sandbox", f"PLAID_ACCESS_TOKEN=access-sandbox-{uid()}"),
        ("typed", "测试账号密码都是 123456，别用在生产"),
        ("policy-text", "密码策略：密码长度不少于 12 位，必须包含大小写字母、数字和特殊字符，90 天更换一次。"),
        ("env-lookup", "api_key = os.environ[\"DASHSCOPE_API_KEY\"]\ntoken = os.getenv('GITHUB_TOKEN')\nsecret = settings.SECRET_KEY"),
        ("secret-ref", "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password"),
        ("appid", f"小程序 AppID 是 wx{s(16, HEX)}，在哪里配置合法域名？"),
        ("client-id", f"AZURE_CLIENT_ID={uid()}\nAZURE_TENANT_ID={uid()}"),
        ("feishu-id", f"飞书应用 App ID：cli_{s(16, HEX)}，权限要开哪些？"),
        ("twilio-sid", f"Twilio 的 Account SID 是 AC{s(32, HEX)}，在控制台首页能看到"),
        ("ding-appkey", f"钉钉应用 AppKey：ding{s(16, 'abcdefghijklmnopqrstuvwxyz0123456789')}"),
        ("access-key-id", f"AccessKeyId 在 RAM 控制台能看到，比如我的子账号 ID 是 {s(16, string.digits)}"),
        ("uuid", "\n".join(uid() for _ in range(5))),
        ("commit", f"git cherry-pick {s(40, HEX)} 报冲突了"),
        ("sha256", f"sha256sum app.tar.gz\n{s(64, HEX)}  app.tar.gz"),
        ("digest", f"image: registry.corp.example/api@sha256:{s(64, HEX)}"),
        ("integrity", f"\"integrity\": \"sha512-{s(86, ALNUM + '+/')}==\""),
        ("gosum", f"golang.org/x/net v0.28.0 h1:{s(43, ALNUM + '+/')}="),
        ("bcrypt", f"password_hash: $2b$12${s(53, ALNUM + './')}"),
        ("ssh-pub", f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{s(43, ALNUM + '+/')} deploy@ci"),
        ("pub-pem", f"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA{s(60, ALNUM + '+/')}\n-----END PUBLIC KEY-----"),
        ("cert", f"-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE{s(60, ALNUM + '+/')}\n-----END CERTIFICATE-----"),
        ("fingerprint", f"SHA256 Fingerprint={':'.join(s(2, '0123456789ABCDEF') for _ in range(32))}"),
        ("ports", "docker run -p 8080:80 -e TZ=Asia/Shanghai nginx\nssh -p 2222 ops@10.0.0.8\nmysql -h db -P 3306 -u app -p"),
        ("webhook-docs", "企业微信群机器人地址形如 https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"),
        ("vault-docs", "Vault 令牌以 hvs. 开头，例如 hvs.xxxxxxxxxxxxxxxxxxxxxxxx，批处理令牌以 hvb. 开头"),
        ("prose-password", "Forgot your password? The password must be at least 12 characters long and the token is valid for 24 hours."),
        ("max-tokens", "{\"model\": \"deepseek-chat\", \"max_tokens\": 4096, \"temperature\": 0.7, \"stream\": true}"),
        ("base64-img", f"background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{s(60, ALNUM + '+/')});"),
    ]


def _flagged(engine, text: str) -> bool:
    return any(r.startswith("credential.") for r in engine.scan_text(text).rules)


@pytest.mark.slow  # ~3 s: 188 pastes, each a first scan for its rule combination
def test_heldout_credentials(engine):
    pos, neg = positives(), lookalikes()
    assert len(pos) >= 120 and len(neg) >= 45
    missed = [(f, t) for f, t in pos if not _flagged(engine, t)]
    false_pos = [(k, t, engine.scan_text(t).rules) for k, t in neg if _flagged(engine, t)]
    caught = 1 - len(missed) / len(pos)
    print(f"\nheld-out: {len(pos) - len(missed)}/{len(pos)} credentials caught ({caught:.1%}), "
          f"{len(false_pos)}/{len(neg)} look-alikes flagged")
    for f, t in missed:
        print("  missed", f, repr(t[:100]))
    for k, t, rules in false_pos:
        print("  flagged", k, rules)
    assert caught >= 0.97 and len(false_pos) <= 1


def positives_round2() -> list[tuple[str, str]]:
    """Written after the first run, before looking at its results again: other files and
    languages (netrc, .pgpass, git-credentials, rclone, s3cfg, Dockerfile, Jenkinsfile, Ansible,
    Helm, HAR, notebooks, Ruby, C#, Rust), other Chinese phrasings, another seed."""
    P = []

    def add(family, *texts):
        P.extend((family, t) for t in texts)

    add("netrc", f"machine api.heroku.com\n  login ops@corp.example\n  password {uid()}", f"machine github.com login ci password {crc('ghp')}")
    add("pgpass", f"10.0.3.3:5432:erp:erp_app:{pw()}")
    add("git-credentials", f"https://ci-bot:{crc('ghp')}@github.com", f"https://deploy:{s(20)}@git.corp.example")
    add("rclone", f"[oss]\ntype = s3\nprovider = Alibaba\naccess_key_id = LTAI5t{s(18)}\nsecret_access_key = {s(30)}\nendpoint = oss-cn-hangzhou.aliyuncs.com")
    add("s3cfg", f"[default]\naccess_key = AKIA{s(16, string.ascii_uppercase + string.digits)}\nsecret_key = {s(40, ALNUM + '+/')}")
    add("dockerfile", f"FROM python:3.12\nENV OPENAI_API_KEY=sk-proj-{s(56, ALNUM + '_-')}\nRUN pip install -r req.txt",
        f"ARG NPM_TOKEN={crc('npm')}\nRUN npm ci")
    add("jenkinsfile", f"withEnv(['DB_PASS={pw()}']) {{\n  sh './migrate.sh'\n}}", f"sh \"curl -u deploy:{pw()} https://nexus.corp/repository/raw/app.tgz -O\"")
    add("ansible", f"[db]\n10.0.4.4 ansible_user=root ansible_password={pw()}", f"ansible_become_pass: \"{pw()}\"")
    add("helm", f"postgresql:\n  auth:\n    postgresPassword: \"{pw()}\"\n    database: erp", f"--set redis.auth.password={pw()}")
    add("har", f'{{"name": "Authorization", "value": "Bearer {s(40, ALNUM + "-_")}"}}', f'{{"name": "x-api-key", "value": "{s(40)}"}}')
    add("notebook", f'"source": [\n    "import openai\\n",\n    "openai.api_key = \\"sk-{s(48)}\\"\\n"\n]')
    add("ruby", f"Stripe.api_key = 'sk_live_{s(40)}'", f"config.secret_key_base = '{s(128, HEX)}'")
    add("csharp", f"var client = new SecretClient(vaultUri, new ClientSecretCredential(tenantId, clientId, \"{s(3)}8Q~{s(34, ALNUM + '_.~-')}\"));",
        f"\"ConnectionStrings\": {{ \"Db\": \"Server=10.0.0.9;Database=erp;User Id=sa;Password={pw()};\" }}")
    add("rust", f"let token = \"xoxp-{s(12, string.digits)}-{s(12, string.digits)}-{s(13, string.digits)}-{s(32, HEX)}\";")
    add("zh-chat", f"老王，新服务器 10.8.1.3 的 root 口令是 {pw()} 你先用着", f"邮箱 SMTP 授权码：{s(16, string.ascii_lowercase)}", f"钉钉群机器人的加签 secret 是 SEC{s(64, HEX)}",
        f"这是企业微信应用的 Secret：{s(43, ALNUM + '_-')}，corpid 是 ww{s(16, HEX)}", f"Wi-Fi 密码：{words(2)}{s(3, string.digits)}")
    add("chinese-cloud", f"七牛上传凭证生成失败，QINIU_AK={s(40, ALNUM + '_-')} QINIU_SK={s(40, ALNUM + '_-')}",
        f"华为云 IAM 用户的 SK：{s(40)}", f"火山引擎 VOLC_ACCESSKEY=AKLT{s(44)}")
    add("saas", f"HEROKU_API_KEY={uid()}", f"circleci: CIRCLE_TOKEN={s(40, HEX)}", f"SNYK_TOKEN={uid()}", f"CLOUDFLARE_API_TOKEN={s(40, ALNUM + '_-')}",
        f"sentry.io DSN: https://{s(32, HEX)}@sentry.corp.example/12", f"postman env: PMAK-{s(24, HEX)}-{s(34, HEX)}")
    add("private-key", f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{s(60, ALNUM + '+/')}\n-----END OPENSSH PRIVATE KEY-----",
        f"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI{s(60, ALNUM + '+/')}\n-----END EC PRIVATE KEY-----")
    add("webhook", f"SLACK_WEBHOOK=https://hooks.slack.com/services/T{s(8, string.ascii_uppercase + string.digits)}/B{s(8, string.ascii_uppercase + string.digits)}/{s(24)}",
        f"飞书告警 https://open.feishu.cn/open-apis/bot/v2/hook/{uid()}")
    add("jwt", f"curl -H 'Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6I{s(30)}.eyJpc3MiOiJodHRwczovL{s(80)}.{s(86, ALNUM + '-_')}' https://api.corp/me")
    return P


def lookalikes_round2() -> list[tuple[str, str]]:
    return [
        ("netrc-docs", "machine api.example.com\n  login <user>\n  password <password>"),
        ("pgpass-docs", "hostname:port:database:username:password"),
        ("dockerfile-arg", "ARG NPM_TOKEN\nRUN echo \"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\" > .npmrc"),
        ("ansible-vault", "ansible_password: \"{{ vault_root_password }}\""),
        ("helm-existing", "auth:\n  existingSecret: postgres-credentials\n  secretKeys:\n    adminPasswordKey: postgres-password"),
        ("har-cookie-name", '{"name": "Authorization", "value": "Bearer {{token}}"}'),
        ("notebook-env", '"source": ["openai.api_key = os.getenv(\\"OPENAI_API_KEY\\")"]'),
        ("zh-reset", "忘记密码？请点击“重置密码”，新密码将发送到您的手机。"),
        ("zh-policy2", "口令应定期更换，禁止使用 123456、admin 等弱口令。"),
        ("en-docs", "Set the password to a strong value (at least 16 characters) before deploying."),
        ("pub-ssh-rsa", f"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{s(80, ALNUM + '+/')} ci@runner"),
        ("gpg-pub", f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF{s(60, ALNUM + '+/')}\n-----END PGP PUBLIC KEY BLOCK-----"),
        ("trace-id", f"X-Request-Id: {uid()}\ntraceparent: 00-{s(32, HEX)}-{s(16, HEX)}-01"),
        ("etag", f"ETag: \"{s(32, HEX)}\"\nContent-MD5: {s(22, ALNUM + '+/')}=="),
        ("git-log", f"commit {s(40, HEX)}\nMerge: {s(7, HEX)} {s(7, HEX)}\nAuthor: Zhang Wei <zw@corp.example>"),
        ("lockfile", f"pkg@1.2.3:\n  resolved \"https://registry.yarnpkg.com/pkg/-/pkg-1.2.3.tgz#{s(40, HEX)}\"\n  integrity sha512-{s(86, ALNUM + '+/')}=="),
        ("test-keys", f"STRIPE_KEY=sk_test_{s(24)}\nPAYPAL_MODE=sandbox"),
        ("appkey", f"高德地图 key={s(32, HEX)}，是 JS API 用的"),
        ("oss-bucket", "OSS_BUCKET=corp-media\nOSS_ENDPOINT=oss-cn-hangzhou.aliyuncs.com\nOSS_REGION=cn-hangzhou"),
        ("cos-docs", "SecretId 和 SecretKey 可在访问管理控制台的 API 密钥管理页面获取，格式如 AKIDxxxxxxxx"),
        ("example-url", "postgres://username:password@localhost:5432/dbname"),
        ("redis-local", "REDIS_URL=redis://localhost:6379/0"),
        ("json-schema", '{"password": {"type": "string", "minLength": 12, "format": "password"}}'),
        ("form-html", '<input type="password" name="password" placeholder="请输入密码" required>'),
    ]


def test_heldout_round2_not_tuned(engine):
    """The second set was run once, as written; its figure is reported, not tuned to."""
    pos, neg = positives_round2(), lookalikes_round2()
    missed = [(f, t) for f, t in pos if not _flagged(engine, t)]
    false_pos = [(k, engine.scan_text(t).rules) for k, t in neg if _flagged(engine, t)]
    print(f"\nheld-out round 2: {len(pos) - len(missed)}/{len(pos)} caught, {len(false_pos)}/{len(neg)} look-alikes flagged")
    for f, t in missed:
        print("  missed", f, repr(t[:110]))
    for k, rules in false_pos:
        print("  flagged", k, rules)
    assert (len(pos) - len(missed)) / len(pos) >= 0.9 and len(false_pos) <= 1
