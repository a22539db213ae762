"""The catalog, table-driven: every service staff use is classified, with its activity, and
path-scoped entries claim only their paths on hosts that mix AI and other traffic."""
import pytest

from guard.catalog import UNKNOWN, load_catalog, parse_access
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
