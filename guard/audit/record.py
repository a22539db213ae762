"""Audit records: metadata, rule ids, masked excerpts and hashes — never content."""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guard.rules import Policy
from guard.types import Verdict

def clean(text: str | None) -> str | None:
    """Undecodable bytes (kept as surrogates) written as \\xNN: a record is never lost to them."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# A path segment the trail may keep: an endpoint name, a version, a model or an id (ASCII, short,
# at most four words). Anything else (percent-encoded or non-ASCII text, a sentence in hyphens,
# base64) may be content and is masked like a query value.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._:~@+=,-]{1,64}")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _mask_segment(seg: str) -> str:
    if not seg or (_PLAIN_SEGMENT.fullmatch(seg) and len(_WORD.findall(seg)) <= 4):
        return seg
    return "***"


def mask_path(path: str) -> str:
    """Path with every query value, and every path segment that may be content, masked: a
    prompt, a token or a SAS signature rides there as easily as in the body, and the audit
    never holds content."""
    parts = urlsplit(path)
    masked = "/".join(_mask_segment(s) for s in parts.path.split("/"))
    if not parts.query:
        return clean(masked)
    q = [(k, "***" if v else "") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return clean(urlunsplit(("", "", masked, urlencode(q, safe="*/:"), "")))


# What a file name may show in the audit: its marking (the reason it was blocked) and its type.
_NAME_KEEP = re.compile(r"(\.[A-Za-z0-9]{1,5}$|绝密|机密|秘密|核心商密|普通商密|商业秘密|商密|工作秘密|内部资料|内部|"
                        r"公司秘密|企业秘密|公司机密|[★▲]|\d{1,3}年|长期|[【】\[\]()（）〔〕<>《》_\-·.\s])")


def mask_filename(name: str | None) -> str | None:
    """A file name with its title masked and its marking and extension visible:
    【机密】关于某项目的报告.docx -> 【机密】**********.docx."""
    if not name:
        return name
    out, pos = [], 0
    for m in _NAME_KEEP.finditer(name):
        if m.start() > pos:
            out.append("*" * min(m.start() - pos, 12))
        out.append(m.group())
        pos = m.end()
    if pos < len(name):
        out.append("*" * min(len(name) - pos, 12))
    return clean("".join(out))


@dataclass
class RequestInfo:
    host: str
    method: str
    path: str
    client: str = ""
    user: str | None = None
    department: str | None = None
    user_agent: str = ""
    provider: str = ""
    category: str = ""
    body_sha256: str = ""
    body_size: int = 0
    kind: str = "http"  # http | websocket
    activity: str = ""  # prompt | upload | other
    shape: str = ""     # for a host outside the catalog: the API shape that made it AI traffic
    files: list[dict] = field(default_factory=list)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_ack(event_id: str, acknowledges: str, reason: str, client: str, user: str | None, policy,
              action: str = "ack", department: str | None = None) -> dict:
    """A user's acknowledgement of a warning, or its submission for approval (`pending_approval`),
    with their stated reason. `policy`: a Policy or {"id", "sha256"}."""
    ref = policy if isinstance(policy, dict) else {"id": policy.id, "sha256": policy.sha256}
    return {"event_id": event_id, "ts": now_iso(), "action": action, "acknowledges": acknowledges,
            "reason": clean(reason[:200]), "rules": [], "host": "", "path": "/ack", "client": client,
            "user": clean(user), "department": clean(department), "body_sha256": "", "policy": ref}


_DOC_EXT = ("docx|docm|doc|xlsx|xlsm|xlsb|xls|pptx|pptm|ppt|pdf|ofd|odt|ods|odp|rtf|wps|et|dps|txt|md|csv|json|jsonl|"
            "xml|html?|eml|zip|rar|7z|tar|gz|tgz|bz2|png|jpe?g|gif|bmp|tiff?|webp")
# A file name inside a location: after file:, a slash or the start, ending in a document extension.
_FILE_SEGMENT = re.compile(rf"(?<=file:)[^/#]+?\.(?:{_DOC_EXT})(?=$|[/#!]| )|(?<=/)[^/#]+?\.(?:{_DOC_EXT})(?=$|[/#!]| )"
                           rf"|^[^/#:]+?\.(?:{_DOC_EXT})(?=$|[/#!]| )", re.I)


def mask_location(location: str, file_names: str = "masked") -> str:
    """A finding's location with the file names in it (archive members, uploads) masked like
    file names: file:a.zip/【机密】项目报告.docx/header1 -> file:a.zip/【机密】****.docx/header1."""
    if file_names == "full" or "." not in location:
        return clean(location)
    return clean(_FILE_SEGMENT.sub(lambda m: mask_filename(m.group()), location))


def ledger_record(ledger, file_names: str = "masked") -> list[dict]:
    """The upload ledger as the audit keeps it: per file, what was read and what was not (with
    the reason), names masked like file names; never content."""
    name = (lambda n: n) if file_names == "full" else mask_filename
    return [{"name": clean(name(e.get("name"))), "type": e.get("type"), "size": e.get("size"),
             "sha256": e.get("sha256"), "parts": e.get("parts", 0),
             "read": [mask_location(r, file_names) for r in e.get("read", ())],
             "not_scanned": [{"where": mask_location(n["where"], file_names), "reason": n["reason"],
                              "detail": clean(n.get("detail", ""))} for n in e.get("not_read", ())]}
            for e in ledger[:50]]


def build(event_id: str, info: RequestInfo, verdict: Verdict, policy: Policy, note: str = "") -> dict:
    file_names = policy.settings.audit_file_names
    rules: dict[str, dict] = defaultdict(lambda: {"count": 0, "locations": [], "excerpts": []})
    for f in verdict.findings:
        r = rules[f.rule]
        r.update(action=f.action, severity=f.severity)
        if f.mode != "enforce":
            r["mode"] = f.mode
        r["count"] = max(r["count"], f.count)
        if len(r["locations"]) < 5:
            r["locations"].append(mask_location(f.location, file_names))
            r["excerpts"].append(f.excerpt)
    rec = {
        "event_id": event_id,
        "ts": now_iso(),
        "action": verdict.action,
        "rules": [{"id": k, **v} for k, v in rules.items()],
        "provider": info.provider,
        "category": info.category,
        "kind": info.kind,
        **({"activity": info.activity} if info.activity else {}),
        "host": clean(info.host),
        "method": clean(info.method),
        "path": mask_path(info.path),
        "client": info.client,
        "user": clean(info.user),
        "department": clean(info.department),
        "user_agent": clean(info.user_agent[:200]),
        "body_sha256": info.body_sha256,
        "body_size": info.body_size,
        "files": [{"name": f.get("name") if file_names == "full" else mask_filename(f.get("name")),
                   "type": f.get("type"), "size": f.get("size"), "sha256": f.get("sha256")} for f in info.files[:50]],
        "policy": {"id": policy.id, "sha256": policy.sha256},
        "decision_ms": verdict.elapsed_ms,
    }
    if verdict.ledger:
        rec["ledger"] = ledger_record(verdict.ledger, file_names)
    if verdict.would:
        rec["would"] = verdict.would
    if verdict.exempt:
        rec["exempt"] = verdict.exempt
    if info.shape:
        rec["shape"] = info.shape
    if note:
        rec["note"] = note
    return rec
