"""The upload ledger: for every file inspected, which of its parts were read and which were
not (with the reason). Names, counts and reasons only, never content: it goes to the verdict
and to the audit record, so an auditor can see that nothing unread was silent."""
from __future__ import annotations

from guard.extract.context import Extraction

MAX_LABELS = 100  # read parts listed by name per file; the count covers the rest
_BOUNDARY = "/#! ("


def _owner(location: str, files: list[tuple[str, int]]) -> int | None:
    """Index of the innermost file whose location is a prefix of `location`."""
    for loc, i in files:  # longest location first
        if location == loc or (location.startswith(loc) and location[len(loc)] in _BOUNDARY):
            return i
    return None


def ledger(out: Extraction, pictures=()) -> tuple[dict, ...]:
    """One entry per file seen: name, type, size, sha256, parts read (labels relative to the
    file, and their count) and parts not read (where, reason, detail). `pictures`: locations
    of embedded pictures; those that yielded no text and no problem are listed as not read."""
    if not out.files:
        return ()
    entries = [{"name": f.get("name"), "type": f.get("type"), "size": f.get("size"), "sha256": f.get("sha256"),
                "location": f.get("location", ""), "read": [], "parts": 0, "not_read": []} for f in out.files]
    order = sorted(((e["location"], i) for i, e in enumerate(entries)), key=lambda t: -len(t[0]))
    for part in out.parts:
        i = _owner(part.location, order)
        if i is None:
            continue
        e = entries[i]
        e["parts"] += 1
        label = part.location[len(e["location"]):].strip() or "(content)"
        if len(e["read"]) < MAX_LABELS and label not in e["read"]:
            e["read"].append(label)
    for p in out.problems:
        i = _owner(p.location, order)
        if i is None:
            continue
        e = entries[i]
        e["not_read"].append({"where": p.location[len(e["location"]):].strip() or "(whole file)",
                              "reason": p.reason, "detail": p.detail[:120]})
    seen = {p.location.removesuffix(" (OCR)") for p in out.parts} | {p.location for p in out.problems}
    for loc in pictures:
        if loc in seen:
            continue
        i = _owner(loc, order)
        if i is not None:
            e = entries[i]
            e["not_read"].append({"where": loc[len(e["location"]):].strip(), "reason": "image",
                                  "detail": "embedded picture: no text read (not OCR'd, or blank)"})
    return tuple(entries)
