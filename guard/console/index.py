"""A SQLite index of the audit trail for the console: never the source of truth (the JSON Lines
chains are), rebuildable at any time, brought up to date incrementally (each chain file is read
from the offset reached last time; a line still being written waits), safe while the proxy
writes (it only reads the trail)."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from guard.audit.chain import log_files
from guard.audit.query import is_background
from guard.display import bound, local_day, zone

# Bumped when a column's meaning changes: an index built under another version (or zone) is rebuilt.
VERSION = "2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  event_id TEXT, ts TEXT, day TEXT, node TEXT, seq INTEGER, action TEXT, rules TEXT, provider TEXT,
  host TEXT, client TEXT, user TEXT, department TEXT, acknowledges TEXT, would TEXT, dir TEXT, record TEXT,
  background INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ev_ts ON events(ts, id);
CREATE INDEX IF NOT EXISTS ev_action_ts ON events(action, ts);
CREATE INDEX IF NOT EXISTS ev_event ON events(event_id);
CREATE INDEX IF NOT EXISTS ev_ack ON events(acknowledges);
CREATE INDEX IF NOT EXISTS ev_user_ts ON events(user, ts);
CREATE INDEX IF NOT EXISTS ev_provider_ts ON events(provider, ts);
CREATE TABLE IF NOT EXISTS rules (event INTEGER, rule TEXT, mode TEXT);
CREATE INDEX IF NOT EXISTS rules_rule ON rules(rule, event);
CREATE TABLE IF NOT EXISTS files (dir TEXT, name TEXT, offset INTEGER, PRIMARY KEY (dir, name));
"""
COLUMNS = ("event_id", "ts", "node", "seq", "action", "provider", "host", "client", "user", "department")


def default_path(audit_dirs: list[str]) -> Path:
    key = hashlib.sha256("\0".join(sorted(str(Path(d).resolve()) for d in audit_dirs)).encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "ai-guard" / f"console-{key}.sqlite"


class Index:
    """`day` is the calendar day in the console's zone (`tz`); `background` marks allowed
    requests that were no AI use (pages, icons: see query.is_background)."""

    def __init__(self, audit_dirs: list[str], path: Path | None = None, tz=None):
        self.dirs = [str(Path(d).resolve()) for d in audit_dirs]
        self.path = Path(path) if path else default_path(self.dirs)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tz = tz or zone()
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        stamp = f"{VERSION} {getattr(self.tz, 'key', str(self.tz))}"
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        except sqlite3.OperationalError:  # an index from before the meta table
            row = None
        if row is None or row[0] != stamp:
            # Built under another schema or zone: rebuilt from the trail (the source of truth).
            self.db.executescript("DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS rules; DROP TABLE IF EXISTS files;"
                                  "DROP TABLE IF EXISTS meta;")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))
        self.db.commit()

    def refresh(self) -> int:
        """Index what was appended since last time; returns the number of new records."""
        added = 0
        with self._lock:
            for d in self.dirs:
                for f in log_files(Path(d)):
                    row = self.db.execute("SELECT offset FROM files WHERE dir=? AND name=?", (d, f.name)).fetchone()
                    start = row[0] if row else 0
                    with open(f, "rb") as fh:
                        fh.seek(start)
                        data = fh.read()
                    end = data.rfind(b"\n") + 1
                    if not end:
                        continue
                    for line in data[:end].split(b"\n"):
                        if line.strip():
                            try:
                                self._add(json.loads(line), d)
                                added += 1
                            except ValueError:
                                continue  # damaged: `verify` names it; the index skips it
                    self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?)", (d, f.name, start + end))
            self.db.commit()
        return added

    def _add(self, r: dict, d: str) -> None:
        rules = r.get("rules") or []
        cur = self.db.execute(
            "INSERT INTO events (event_id, ts, day, node, seq, action, rules, provider, host, client, user, department,"
            " acknowledges, would, dir, record, background) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (r.get("event_id"), r.get("ts"), local_day(r.get("ts") or "", self.tz), r.get("node") or Path(d).name,
             r.get("seq"), r.get("action"), ",".join(x.get("id", "") for x in rules), r.get("provider"), r.get("host"),
             r.get("client"), r.get("user"), r.get("department"), r.get("acknowledges"), r.get("would"), d,
             json.dumps(r, ensure_ascii=False), int(is_background(r))))
        for x in rules:
            self.db.execute("INSERT INTO rules VALUES (?,?,?)", (cur.lastrowid, x.get("id"), x.get("mode", "enforce")))

    def query(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()


def where(filters: dict, tz=None) -> tuple[str, list]:
    """SQL conditions for the console's filters (time range: local calendar days or times in
    `tz`; action, rule, provider, host, user, department, node). A bad date raises GuardError."""
    conds, args = [], []
    tz = tz or zone()
    if filters.get("since"):
        conds.append("ts >= ?")
        args.append(bound(filters["since"], tz))
    if filters.get("until"):
        conds.append("ts <= ?")
        args.append(bound(filters["until"], tz, end=True))
    act = filters.get("action")
    if act == "background":  # allowed pages, icons, polls: apart from AI use
        conds.append("background = 1")
    elif act:
        conds.append("action = ?" + (" AND background = 0" if act == "allow" else ""))
        args.append(act)
    for col in ("provider", "user", "department", "node"):
        if filters.get(col):
            conds.append(f"{col} = ?")
            args.append(filters[col])
    if filters.get("host"):
        conds.append("host LIKE ?")
        args.append(f"%{filters['host']}%")
    if filters.get("rule"):
        conds.append("id IN (SELECT event FROM rules WHERE rule = ? OR rule LIKE ?)")
        args += [filters["rule"], filters["rule"] + ".%"]
    return (" WHERE " + " AND ".join(conds)) if conds else "", args
