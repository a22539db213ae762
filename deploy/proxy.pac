// PAC file: send internet AI services (and their upload storage) through the guard,
// everything else direct. Keep the list in step with policies/catalog.yaml.
function FindProxyForURL(url, host) {
  var guard = "PROXY ai-guard.corp.example:8080";
  var ai = [
    "openai.com", "chatgpt.com", "anthropic.com", "claude.ai", "googleapis.com", "gemini.google.com",
    "openai.azure.com", "mistral.ai", "groq.com", "openrouter.ai", "x.ai", "perplexity.ai", "poe.com",
    "deepseek.com", "moonshot.cn", "moonshot.ai", "kimi.com", "aliyuncs.com", "aliyun.com", "qwen.ai",
    "qianwen.com", "volces.com", "doubao.com", "bytedanceapi.com", "baidubce.com", "yiyan.baidu.com",
    "bigmodel.cn", "chatglm.cn", "tencent.com", "tencentcloudapi.com", "myqcloud.com", "xf-yun.com",
    "xfyun.cn", "minimax.chat", "minimaxi.com", "hailuoai.com", "stepfun.com", "yuewen.cn",
    "lingyiwanwu.com", "01.ai", "siliconflow.cn", "baichuan-ai.com", "copilot.microsoft.com",
    "blob.core.windows.net", "ai-guard.invalid"
  ];
  for (var i = 0; i < ai.length; i++) {
    if (host === ai[i] || dnsDomainIs(host, "." + ai[i])) return guard;
  }
  return "DIRECT";
}
