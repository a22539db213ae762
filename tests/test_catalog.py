"""The catalog, table-driven: every service staff use is classified, with its activity, and
path-scoped entries claim only their paths on hosts that mix AI and other traffic."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from guard.catalog import CLOUD_DOMAINS, UNKNOWN, load_catalog, parse_access
from guard.errors import PolicyError
from guard.identity import Who

CAT = load_catalog()

ROWS = [
    # host, path, method -> service, activity
    ("api.githubcopilot.com", "/chat/completions", "POST", "github-copilot", "prompt"),
    ("api.individual.githubcopilot.com", "/chat/completions", "POST", "github-copilot", "prompt"),
    ("copilot-proxy.githubusercontent.com", "/v1/engines/copilot-codex/completions", "POST", "github-copilot", "prompt"),
    ("api.github.com", "/copilot_internal/v2/token", "GET", "github-copilot", "other"),
    ("api.github.com", "/repos/o/r/pulls", "POST", None, None),
    ("api2.cursor.sh", "/aiserver.v1.ChatService/StreamUnifiedChatWithTools", "POST", "cursor", "prompt"),
    ("repo42.cursor.sh", "/aiserver.v1.RepositoryService/FastRepoSyncComplete", "POST", "cursor", "prompt"),
    ("server.codeium.com", "/exa.language_server_pb.LanguageServerService/GetChatMessage", "POST", "windsurf", "prompt"),
    ("server.self-serve.windsurf.com", "/exa.api_server_pb.ApiServerService/GetChatMessage", "POST", "windsurf", "prompt"),
    ("windsurf.com", "/pricing", "GET", None, None),
    ("api.trae.ai", "/api/ide/v1/chat", "POST", "trae", "prompt"),
    ("api.marscode.cn", "/api/chat", "POST", "trae", "prompt"),
    ("lingma-api.tongyi.aliyun.com", "/algo/api/v2/service/pro/sse/agent_chat_generation", "POST", "lingma", "prompt"),
    ("tongyi.aliyun.com", "/qianwen/api/chat", "POST", "qwen-web", "prompt"),
    ("copilot.tencent.com", "/v2/chat/completions", "POST", "codebuddy", "prompt"),
    ("www.codebuddy.ai", "/v2/chat/completions", "POST", "codebuddy", "prompt"),
    ("comate.baidu.com", "/api/v2/chat", "POST", "comate", "prompt"),
    ("substrate.office.com", "/m365Copilot/Chathub/abc", "GET", "m365-copilot", "other"),
    ("substrate.office.com", "/m365Copilot/UploadFile", "POST", "m365-copilot", "upload"),
    ("substrate.office.com", "/m365Copilot/GetConversation", "POST", "m365-copilot", "prompt"),
    ("substrate.office.com", "/search/api/v2/query", "POST", None, None),
    ("substrate.office.com", "/m365copilot/chathub/abc", "POST", "m365-copilot", "prompt"),
    ("copilot.cloud.microsoft", "/c/api/chat", "POST", "m365-copilot", "prompt"),
    ("devops.aliyun.com", "/lingma/api/chat", "POST", "lingma", "prompt"),
    ("devops.aliyun.com", "/projex/board", "GET", None, None),
    ("grok.x.com", "/rest/app-chat", "POST", "grok-web", "prompt"),
    ("ai.wps.cn", "/api/v1/chat", "POST", "wps-ai", "prompt"),
    ("api.deepl.com", "/v2/translate", "POST", "deepl", "prompt"),
    ("api-free.deepl.com", "/v2/document", "POST", "deepl", "upload"),
    ("www2.deepl.com", "/jsonrpc", "POST", "deepl", "prompt"),
    ("www2.deepl.com", "/other", "POST", None, None),
    ("fanyi.baidu.com", "/ait/text/translate", "POST", "baidu-fanyi", "prompt"),
    ("fanyi-api.baidu.com", "/api/trans/vip/translate", "POST", "baidu-fanyi", "prompt"),
    ("fanyi.youdao.com", "/translate", "POST", "youdao", "prompt"),
    ("dict.youdao.com", "/webtranslate", "POST", "youdao", "prompt"),
    ("dict.youdao.com", "/search", "GET", None, None),
    ("metaso.cn", "/api/searchV2", "POST", "metaso", "prompt"),
    ("www.n.cn", "/api/chat", "POST", "nano-ai", "prompt"),
    ("www.perplexity.ai", "/rest/sse/perplexity_ask", "POST", "perplexity-web", "prompt"),
    ("grok.com", "/rest/app-chat/conversations/new", "POST", "grok-web", "prompt"),
    ("x.com", "/i/api/2/grok/add_response.json", "POST", "grok-web", "prompt"),
    ("x.com", "/i/api/graphql/abc/CreateTweet", "POST", None, None),
    ("www.meta.ai", "/api/graphql/", "POST", "meta-ai", "prompt"),
    ("huggingface.co", "/chat/conversation/65f0", "POST", "huggingchat", "prompt"),
    ("huggingface.co", "/api/models", "GET", None, None),
    ("aistudio.google.com", "/app/prompts/new_chat", "GET", "ai-studio", "other"),
    ("alkalimakersuite-pa.clients6.google.com", "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent", "POST", "ai-studio", "prompt"),
    ("notebooklm.google.com", "/_/LabsTailwindUi/data/batchexecute", "POST", "notebooklm", "prompt"),
    ("api.openai.com", "/v1/files", "POST", "openai", "upload"),
    ("api.openai.com", "/v1/uploads/upl_1/parts", "POST", "openai", "upload"),
    ("api.openai.com", "/v1/chat/completions", "POST", "openai", "prompt"),
    ("chatgpt.com", "/backend-api/files", "POST", "chatgpt-web", "upload"),
    ("claude.ai", "/api/convert_document", "POST", "claude-web", "upload"),
    ("chat.deepseek.com", "/api/v0/file/upload_file", "POST", "deepseek-web", "upload"),
    ("generativelanguage.googleapis.com", "/upload/v1beta/files", "POST", "gemini", "upload"),
    ("bedrock-runtime.us-east-1.amazonaws.com", "/model/anthropic.claude/invoke", "POST", "bedrock", "prompt"),
    ("www.example.org", "/", "POST", None, None),
    # A GET whose query carries text sends a prompt; other reads are `other`.
    ("translate.googleapis.com", "/translate_a/single?client=gtx&sl=auto&tl=en&q=%E6%9C%BA", "GET", "google-translate", "prompt"),
    ("chatgpt.com", "/?q=hello", "GET", "chatgpt-web", "prompt"),
    ("chatgpt.com", "/backend-api/conversations?offset=0&limit=28", "GET", "chatgpt-web", "other"),
    ("api.coze.cn", "/v3/chat", "POST", "coze-cn", "prompt"),
    ("api.coze.cn", "/v1/files/upload", "POST", "coze-cn", "upload"),
    ("api.dify.ai", "/v1/files/upload", "POST", "dify-cloud", "upload"),
    ("open.feishu.cn", "/open-apis/aily/v1/sessions", "POST", "feishu-aily", "prompt"),
    ("open.feishu.cn", "/open-apis/im/v1/messages", "POST", None, None),
    ("api.dingtalk.com", "/v1.0/assistant/threads", "POST", "dingtalk-ai", "prompt"),
    ("api.dingtalk.com", "/v1.0/contact/users/me", "GET", None, None),
    ("open.volcengineapi.com", "/?Action=TranslateText&Version=2020-06-01", "POST", "volc-translate", "prompt"),
    ("open.volcengineapi.com", "/?Action=ListUsers&Version=2018-01-01", "POST", None, None),
    ("ocr.tencentcloudapi.com", "/", "POST", "tencent-ocr", "upload"),
    ("aip.baidubce.com", "/rest/2.0/ocr/v1/general_basic", "POST", "baidu-ocr", "upload"),
    ("ollama.com", "/api/chat", "POST", "ollama-cloud", "prompt"),
    ("ollama.com", "/library/qwen3", "GET", None, None),
]


@pytest.mark.parametrize("host, path, method, service, activity", ROWS, ids=[f"{r[0]}{r[1]}" for r in ROWS])
def test_classification(host, path, method, service, activity):
    svc = CAT.service(host, path)
    assert (svc.id if svc else None) == service
    if svc is not None:
        assert CAT.activity(svc, method, path) == activity


def test_path_scoped_hosts_are_intercepted_whole():
    # The TLS tunnel is opened before the path is known: the whole host is intercepted.
    import re
    rx = [re.compile(p) for p in CAT.allow_hosts()]
    for host in ("api.github.com", "x.com", "huggingface.co", "substrate.office.com", "api2.cursor.sh"):
        assert any(r.search(f"{host}:443") for r in rx), host
    assert not any(r.search("github.com:443") for r in rx)


def test_upload_by_content_type_and_storage_origin():
    svc = CAT.service("api.deepseek.com", "/chat/completions")
    assert CAT.activity(svc, "POST", "/chat/completions", "multipart/form-data; boundary=x") == "upload"
    assert CAT.activity(svc, "PUT", "/x", "application/octet-stream") == "upload"
    assert CAT.activity(svc, "POST", "/chat/completions", "application/json") == "prompt"
    assert CAT.activity(svc, "PUT", "/container/blob", "", via_origin=True) == "upload"


def test_access_levels_and_group_overrides():
    acc = parse_access({"prompt": "allow", "upload": "block", "groups": {"rd": {"upload": "warn"}}}, "t")
    assert acc.decide("upload", Who()) == "block"
    assert acc.decide("upload", Who(user="a", groups=frozenset({"rd"}))) == "warn"
    assert acc.decide("prompt", Who()) == "allow"
    assert acc.decide("other", Who()) is None  # the level above decides
    assert parse_access("block", "t").decide("prompt", None) == "block"
    for bad in ({"upload": "maybe"}, {"chat": "block"}, 3):
        with pytest.raises(PolicyError):
            parse_access(bad, "t")


def test_default_and_unknown_access(tmp_path):
    text = ("default: {access: {upload: warn}}\nunknown: {access: block}\nservices:\n"
            "  - {id: a, hosts: [a.example], access: {upload: allow}}\n  - {id: b, hosts: [b.example]}\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    cat = load_catalog(tmp_path / "c.yaml")
    a, b = cat.service("a.example"), cat.service("b.example")
    assert cat.access(a, "upload", None) == "allow"
    assert cat.access(b, "upload", None) == "warn"
    assert cat.access(b, "prompt", None) == "allow"
    assert cat.access(UNKNOWN, "prompt", None) == "block"


@pytest.mark.parametrize("text, msg", [
    ("services:\n  - {id: a, hosts: [a.example], access: {upload: nope}}\n", "access"),
    ("services:\n  - {id: a, hosts: [a.example], uploads: [files]}\n", "uploads"),
    ("services:\n  - {id: a, hosts: [a.example]}\n  - {id: a, hosts: [b.example]}\n", "twice"),
    ("services:\n  - {id: a, hosts: [a.example], colour: red}\n", "unknown field"),
    ("servces: []\n", "services"),
])
def test_bad_catalog_is_one_line(tmp_path, text, msg):
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=msg) as e:
        load_catalog(tmp_path / "c.yaml")
    assert "\n" not in str(e.value)


def _write(tmp, text: str):
    path = tmp / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("a, b, ok", [
    ("[a.example, b.example]", "[a.example]", False),          # two services, one host
    ("[a.example, A.Example.]", None, False),                  # the same host in any case
    ("[x.example/v1/chat, x.example/V1/Chat]", None, False),   # the same path scope twice
    ("[x.example/v1/chat, x.example/v1/files]", None, True),   # two scopes on one host
    ("[x.example]", "[x.example/v1/chat]", True),              # a scope beside a whole host
    ("[x.example]", "[api.x.example]", True),                  # a closer host under another service
])
def test_duplicate_hosts_are_refused(tmp_path, a, b, ok):
    text = f"services:\n  - {{id: a, hosts: {a}}}\n" + (f"  - {{id: b, hosts: {b}}}\n" if b else "")
    path = _write(tmp_path, text)
    if ok:
        load_catalog(path)
        return
    with pytest.raises(PolicyError, match="listed twice") as e:
        load_catalog(path)
    assert "\n" not in str(e.value)


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(domain=st.sampled_from(sorted(CLOUD_DOMAINS)), stars=st.integers(0, 2),
       tenant=st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True), star_in_tenant=st.booleans())
def test_a_whole_cloud_domain_is_refused_a_tenant_or_path_is_not(tmp_path, domain, stars, tenant, star_in_tenant):
    wild = "*." * stars + domain                    # amazonaws.com, *.aliyuncs.com, *.*.cloudfront.net
    with pytest.raises(PolicyError, match="whole cloud domain") as e:
        load_catalog(_write(tmp_path, f'services:\n  - {{id: a, hosts: ["{wild}"]}}\n'))
    assert "\n" not in str(e.value)
    # A path scope, a tenant's own name (possibly with a wildcard beside it) and `storage:` are fine.
    name = (tenant + "-*" if star_in_tenant else tenant) + "." + wild
    cat = load_catalog(_write(tmp_path, f'services:\n  - {{id: a, hosts: ["{wild}/v1/chat", "{name}"]}}\n'
                                        f"storage: [{domain}]\n"))
    assert cat.service(name.replace("*", "x"), "/").id == "a"
    other = "o." * max(stars, 1) + domain           # a name the wildcards stand for
    assert cat.service(other, "/v1/chat/completions").id == "a"
    assert cat.service(other, "/") is None
