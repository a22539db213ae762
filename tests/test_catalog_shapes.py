"""Each API family the catalog names is read for prompts and uploads, not only recognised by host:
a body as the family's real client sends it (tests/assets/requests/, shapes from the providers'
SDKs and API references) is classified to its service and activity, passes clean, and is blocked
when marked, with the finding at the field that carried the marking. Inspection is the proxy's
own (guard.proxy.body.inspect), so this is what the guard does with the request."""
import json
import time
from pathlib import Path
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import pytest

from guard.catalog import load_catalog
from guard.proxy.body import HEADERS, Request, inspect
from writers import make_docx

REQ = Path(__file__).resolve().parent / "assets" / "requests"
BENIGN = "请把这段会议纪要整理成三条要点：本周完成了装置检修计划，协调了备件采购。"
MARKED = "机密★5年 关于塔河油田三维地震勘探成果的报告"
CAT = load_catalog()
JSON, FORM = "application/json", "application/x-www-form-urlencoded;charset=UTF-8"

# family, sample, method, url, content type, service, activity, where the marked text is found
FAMILIES = [
    ("openai-compatible", "openai-chat.json", "POST", "https://api.openai.com/v1/chat/completions", JSON, "openai", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://models.github.ai/inference/chat/completions", JSON, "github-models", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://api.together.xyz/v1/chat/completions", JSON, "together", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://api.fireworks.ai/inference/v1/chat/completions", JSON, "fireworks", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://api.deepinfra.com/v1/openai/chat/completions", JSON, "deepinfra", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://api-inference.modelscope.cn/v1/chat/completions", JSON, "modelscope", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://router.huggingface.co/v1/chat/completions", JSON, "hf-inference", "prompt", "messages["),
    ("openai-compatible", "openai-chat.json", "POST", "https://my-phi.eastus2.models.ai.azure.com/chat/completions", JSON, "azure-ai-inference", "prompt", "messages["),
    ("openai-compatible", "openai-responses.json", "POST", "https://api.openai.com/v1/responses", JSON, "openai", "prompt", "input"),
    ("anthropic", "anthropic-messages.json", "POST", "https://api.anthropic.com/v1/messages", JSON, "anthropic", "prompt", "messages[0].content"),
    ("anthropic", "anthropic-messages.json", "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3/invoke", JSON, "bedrock", "prompt", "messages[0].content"),
    ("gemini", "gemini-generate.json", "POST", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", JSON, "gemini", "prompt", "contents[0].parts"),
    ("gemini", "gemini-generate.json", "POST", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent", JSON, "vertex", "prompt", "contents[0].parts"),
    ("cohere-v2", "cohere-chat-v2.json", "POST", "https://api.cohere.com/v2/chat", JSON, "cohere", "prompt", "messages[1].content"),
    ("dify", "dify-chat-messages.json", "POST", "https://api.dify.ai/v1/chat-messages", JSON, "dify-cloud", "prompt", "query"),
    ("coze-v3", "coze-v3-chat.json", "POST", "https://api.coze.cn/v3/chat?conversation_id=7", JSON, "coze-cn", "prompt", "additional_messages[0].content"),
    ("coze-v3", "coze-v3-chat-object-string.json", "POST", "https://api.coze.com/v3/chat", JSON, "coze-com", "prompt", "additional_messages[0].content[0].text"),
    ("qianfan", "qianfan-v2-chat.json", "POST", "https://qianfan.baidubce.com/v2/chat/completions", JSON, "qianfan", "prompt", "messages[0].content"),
    ("qianfan", "ernie-wenxinworkshop.json", "POST", "https://aip.baidubce.com/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions_pro", JSON, "qianfan", "prompt", "messages[0].content"),
    ("dashscope", "dashscope-compatible.json", "POST", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions", JSON, "dashscope", "prompt", "messages[0].content"),
    ("ollama", "ollama-chat.json", "POST", "https://ollama.com/api/chat", JSON, "ollama-cloud", "prompt", "messages[0].content"),
    ("ollama", "ollama-generate.json", "POST", "https://ollama.com/api/generate", JSON, "ollama-cloud", "prompt", "prompt"),
    ("deepl", "deepl-translate.form", "POST", "https://api-free.deepl.com/v2/translate", FORM, "deepl", "prompt", "text"),
    ("deepl", "deepl-translate.json", "POST", "https://api.deepl.com/v2/translate", JSON, "deepl", "prompt", "text[0]"),
    ("google-translate", "google-translation-v2.json", "POST", "https://translation.googleapis.com/language/translate/v2", JSON, "google-translate", "prompt", "q[0]"),
    ("google-translate", None, "GET", "https://translate.googleapis.com/translate_a/single?client=gtx&sl=auto&tl=en&dt=t&q=" + quote_plus(BENIGN), "", "google-translate", "prompt", "query:q"),
    ("google-translate", None, "GET", "https://translate.google.com/translate_a/single?client=gtx&sl=zh-CN&tl=en&hl=en&ie=UTF-8&q=" + quote_plus(BENIGN), "", "google-translate", "prompt", "query:q"),
    ("tencent-translate", "fanyi-qq.form", "POST", "https://fanyi.qq.com/api/translate", FORM, "fanyi-qq", "prompt", "sourceText"),
    ("tencent-translate", "transmart-imt.json", "POST", "https://transmart.qq.com/api/imt", JSON, "transmart", "prompt", "source.text_list[0]"),
    ("tencent-translate", "tencent-tmt.json", "POST", "https://tmt.tencentcloudapi.com/", JSON, "tencent-tmt", "prompt", "SourceText"),
    ("baidu-translate", "baidu-fanyi-api.form", "POST", "https://fanyi-api.baidu.com/api/trans/vip/translate", FORM, "baidu-fanyi", "prompt", "q"),
    ("youdao-translate", "youdao-openapi.form", "POST", "https://openapi.youdao.com/api", FORM, "youdao", "prompt", "q"),
    ("volcengine-translate", "deepl-translate.json", "POST", "https://open.volcengineapi.com/?Action=TranslateText&Version=2020-06-01", JSON, "volc-translate", "prompt", "text[0]"),
    ("chat-web", "wenxiaobai-chat.json", "POST", "https://api-bj.wenxiaobai.com/api/v1.0/core/conversation/chat/v1", JSON, "wenxiaobai", "prompt", "query"),
    ("chat-web", "claude-web-completion.json", "POST", "https://claude.ai/api/organizations/ORG/chat_conversations/CONV/completion", JSON, "claude-web", "prompt", "prompt"),
    ("replicate", "replicate-prediction.json", "POST", "https://api.replicate.com/v1/predictions", JSON, "replicate", "prompt", "input.prompt"),
    ("elevenlabs", "elevenlabs-tts.json", "POST", "https://api.elevenlabs.io/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM", JSON, "elevenlabs", "prompt", "text"),
    ("feishu-aily", "feishu-aily-message.json", "POST", "https://open.feishu.cn/open-apis/aily/v1/sessions/S1/messages", JSON, "feishu-aily", "prompt", "content"),
    ("dingtalk-assistant", "dingtalk-assistant-message.json", "POST", "https://api.dingtalk.com/v1.0/assistant/threads/T1/messages", JSON, "dingtalk-ai", "prompt", "content.text.value"),
]


def body_of(sample: str | None, ctype: str, marked: bool) -> bytes:
    if sample is None:
        return b""
    raw = (REQ / sample).read_text(encoding="utf-8")
    if not marked:
        return raw.encode()
    if ctype == FORM:
        out = raw.replace(quote_plus(BENIGN), quote_plus(MARKED))
    elif sample.startswith("openai"):  # the OpenAI SDK sends \u escapes
        out = raw.replace(json.dumps(BENIGN)[1:-1], json.dumps(MARKED)[1:-1])
    else:
        out = raw.replace(BENIGN, MARKED)
    assert out != raw, "the sample carries the benign prompt to swap"
    return out.encode()


def run(engine, method: str, url: str, ctype: str, body: bytes):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    query = tuple(httpx.URL(url).params.multi_items())
    headers = {"content-type": ctype} if ctype else {}
    req = Request(body, {k: v for k, v in headers.items() if k in HEADERS}, path, query)
    verdict, _, _ = inspect(engine, req, time.perf_counter())
    return verdict


@pytest.mark.parametrize("family, sample, method, url, ctype, service, activity, where", FAMILIES,
                         ids=[f"{f[0]}:{f[5]}:{f[1] or 'query'}" for f in FAMILIES])
def test_family_is_parsed_for_prompts(engine, family, sample, method, url, ctype, service, activity, where):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    svc = CAT.service(parts.hostname, path)
    assert svc is not None and svc.id == service
    assert CAT.activity(svc, method, path, ctype) == activity
    clean = run(engine, method, url, ctype, body_of(sample, ctype, False))
    assert clean.action == "allow" and not clean.findings
    if sample is None:
        url = url.replace(quote_plus(BENIGN), quote_plus(MARKED))
    verdict = run(engine, method, url, ctype, body_of(sample, ctype, True))
    assert verdict.action == "block"
    assert any(f.location.startswith(where) for f in verdict.findings), [f.location for f in verdict.findings]


UPLOADS = [
    # family, url, multipart fields, file field, service
    ("dify", "https://api.dify.ai/v1/files/upload", {"user": "abc-123"}, "file", "dify-cloud"),
    ("coze", "https://api.coze.cn/v1/files/upload", {}, "file", "coze-cn"),
    ("openai-compatible", "https://api.openai.com/v1/files", {"purpose": "assistants"}, "file", "openai"),
    ("deepl", "https://api.deepl.com/v2/document", {"target_lang": "EN-US"}, "file", "deepl"),
    ("cohere", "https://api.cohere.com/v1/datasets?name=notes&type=embed-input", {}, "data", "cohere"),
]


@pytest.mark.parametrize("family, url, fields, field, service", UPLOADS, ids=[u[0] for u in UPLOADS])
def test_family_uploads_are_read(engine, family, url, fields, field, service):
    doc = make_docx([MARKED, "正文"])
    req = httpx.Request("POST", url, data=fields, files={field: ("周报.docx", doc, "application/octet-stream")})
    body, ctype = req.read(), req.headers["content-type"]
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    svc = CAT.service(parts.hostname, path)
    assert svc.id == service
    assert CAT.activity(svc, "POST", path, ctype) == "upload"
    verdict = run(engine, "POST", url, ctype, body)
    assert verdict.action == "block"
    assert any(f.location.startswith(f"multipart:{field}/") for f in verdict.findings), \
        [f.location for f in verdict.findings]
    clean = httpx.Request("POST", url, data=fields, files={field: ("周报.docx", make_docx(["正文"]), "application/octet-stream")})
    assert run(engine, "POST", url, clean.headers["content-type"], clean.read()).action == "allow"


def test_ocr_back_end_reads_the_scan(engine):
    """Baidu OCR as pot and the SDKs call it: form-urlencoded, the file base64 in `image`/`pdf_file`."""
    import base64

    from writers import make_pdf

    url = "https://aip.baidubce.com/rest/2.0/ocr/v1/accurate_basic"
    svc = CAT.service("aip.baidubce.com", "/rest/2.0/ocr/v1/accurate_basic")
    assert svc.id == "baidu-ocr" and CAT.activity(svc, "POST", "/rest/2.0/ocr/v1/accurate_basic", FORM) == "upload"
    assert CAT.service("aip.baidubce.com", "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions").id == "qianfan"
    for lines, action in (([MARKED, "正文"], "block"), (["正文"], "allow")):
        body = urlencode({"pdf_file": base64.b64encode(make_pdf(lines)).decode(), "language_type": "CHN_ENG"})
        verdict = run(engine, "POST", url, FORM, body.encode())
        assert verdict.action == action, [f.location for f in verdict.findings]
        if action == "block":
            assert any(f.location.startswith("pdf_file") for f in verdict.findings), [f.location for f in verdict.findings]


def test_every_family_of_the_catalog_has_a_sample():
    """The API families named in the catalog's services each have a request test above."""
    tested = {f[5] for f in FAMILIES} | {u[4] for u in UPLOADS} | {"baidu-ocr"}
    for needed in ("cohere", "dify-cloud", "coze-cn", "coze-com", "gemini", "anthropic", "openai", "qianfan",
                   "ollama-cloud", "deepl", "google-translate", "fanyi-qq", "transmart", "github-models",
                   "azure-ai-inference", "modelscope", "hf-inference", "together", "fireworks", "deepinfra"):
        assert needed in tested, needed


@pytest.mark.parametrize("sample, shape", [
    ("dify-chat-messages.json", "dify"), ("coze-v3-chat.json", "coze"), ("coze-v3-chat-object-string.json", "coze"),
    ("cohere-chat-v2.json", "openai-chat"), ("ollama-chat.json", "openai-chat"), ("ollama-generate.json", "completions"),
    ("qianfan-v2-chat.json", "openai-chat"),
    ("deepl-translate.json", None), ("tencent-tmt.json", None), ("feishu-aily-message.json", None),
])
def test_agent_platform_bodies_to_unknown_hosts_are_ai_traffic(sample, shape):
    """A self-hosted Dify or a Coze-compatible endpoint on a host the catalog cannot name is still
    AI traffic by its body (shadow AI); translation and messaging bodies are not taken for it."""
    from guard.proxy.shadow import api_shape

    assert api_shape((REQ / sample).read_bytes()) == shape
    graphql = json.dumps({"query": "query { viewer { login } }", "variables": {"user": 1}}).encode()
    assert api_shape(graphql) is None
