"""Shadow AI: a request to a host outside the catalog whose body has the shape of an LLM call
(API relays, 中转站, and services nobody has catalogued yet)."""
from __future__ import annotations

import json

MAX_BODY = 8 << 20  # a larger JSON body is an upload, not a chat call: not parsed here
_HINTS = (b'"messages"', b'"contents"', b'"prompt"', b'"input"', b'"model"', b'"response_mode"', b'"additional_messages"',
          b'"chat_history"', b'"preamble"', b'"question"', b'"input_value"', b'"jsonrpc"')


def api_shape(body: bytes) -> str | None:
    """The LLM request shape of a JSON body (openai-chat, openai-responses, anthropic, gemini,
    completions, chat-web), or None."""
    if not body or len(body) > MAX_BODY or body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] != b"{":
        return None
    head = body[:65536]
    if not any(h in head for h in _HINTS):
        return None
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(d, dict):
        return None
    messages = d.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        if isinstance(messages[0].get("content"), dict) or "action" in d:
            return "chat-web"  # ChatGPT-like web apps: content {parts: [...]}
        if "model" in d and any("role" in m for m in messages):
            return "anthropic" if isinstance(d.get("max_tokens"), int) and "system" in d else "openai-chat"
        if any("role" in m for m in messages):
            return "chat-web"
    contents = d.get("contents")
    if isinstance(contents, list) and contents and all(isinstance(c, dict) and "parts" in c for c in contents):
        return "gemini"
    if "model" in d and ("input" in d or "instructions" in d):
        return "openai-responses"
    if "model" in d and isinstance(d.get("prompt"), (str, list)):
        return "completions"
    if isinstance(d.get("prompt"), str) and any(k in d for k in ("conversation_id", "chat_session_id",
                                                                   "parent_message_id", "session_id")):
        return "chat-web"
    # Agent platforms, often self-hosted on a host of their own: Dify's service API, Coze's v3 chat.
    if isinstance(d.get("query"), str) and "response_mode" in d and "user" in d:
        return "dify"
    if isinstance(d.get("additional_messages"), list) and ("bot_id" in d or "workflow_id" in d):
        return "coze"
    if isinstance(d.get("inputs"), dict) and "response_mode" in d and "user" in d:
        return "dify"  # Dify workflow run (/v1/workflows/run, /v1/completion-messages)
    # Cohere v1 chat (message + chat_history/preamble/connectors), Flowise prediction, Langflow run.
    if isinstance(d.get("message"), str) and any(k in d for k in ("chat_history", "preamble", "connectors")):
        return "cohere"
    if isinstance(d.get("question"), str) and any(k in d for k in ("overrideConfig", "history", "chatId", "streaming")):
        return "flowise"
    if isinstance(d.get("input_value"), str) and ("input_type" in d or "output_type" in d or "tweaks" in d):
        return "langflow"
    # MCP over HTTP: a tool call's arguments, or a client's result for a server's request
    # (sampling, elicitation), go to an agent's tool server.
    if d.get("jsonrpc") == "2.0" and (str(d.get("method", "")).startswith(("tools/", "sampling/", "prompts/",
                                                                             "resources/", "elicitation/"))
                                      or isinstance(d.get("result"), dict)):
        return "mcp"
    return None


def error_shape(shape: str) -> str:
    """Which provider error body a client of this shape understands."""
    return {"anthropic": "anthropic", "gemini": "gemini"}.get(shape, "openai")
