"""`guard console`: the auditors' read-only web console (Starlette, server-rendered, no script).

Nothing in it changes data: every route is a GET except login and logout. Sessions live on the
server (a random id in an HttpOnly, SameSite=Strict cookie); forms carry a CSRF token and a
POST from another origin is refused; repeated wrong passwords lock the name out for a while.
Every view of an event is written to the console access log (who looked at what).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import secrets
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from guard.audit.query import discover, records
from guard.console import users as accounts
from guard.console.charts import hbars, stacked_bars
from guard.console import rows as table
from guard.console.index import Index, where
from guard.console.report import chain_status, collect, render_html, render_pdf, render_xlsx
from guard.display import Names, action_word, local_text, severity_word, today, zone, zone_label
from guard.errors import GuardError

SESSION_COOKIE, LOGIN_COOKIE = "guard_console", "guard_login"
SESSION_SECONDS = 8 * 3600
MAX_FAILURES, LOCK_SECONDS = 5, 300
PAGE = 50
FILTERS = ("since", "until", "action", "rule", "provider", "host", "user", "department", "node")
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
            "Cache-Control": "no-store"}


class Console:
    def __init__(self, audit_dirs: list[str], users_file: str, key_file: str | None = None,
                 index_path: str | None = None, tz: str | None = None, policy: str | None = None):
        self.dirs = audit_dirs
        self.users_file = users_file
        self.key_file = key_file
        self.tz = zone(tz)          # every page, filter, export and report speaks this zone
        self.names = Names.load(policy)
        self.index = Index(audit_dirs, Path(index_path) if index_path else None, self.tz)
        self.access_log = self.index.path.with_name(self.index.path.stem + "-access.jsonl")
        self.secret = secrets.token_bytes(32)
        self.sessions: dict[str, dict] = {}
        self.failures: dict[str, list[float]] = {}
        self._refreshed = 0.0
        self.env = Environment(loader=PackageLoader("guard.console", "templates"),
                               autoescape=select_autoescape(["html"]))
        self.env.globals.update(
            zone=zone_label(self.tz), word=action_word, severity=severity_word, title=self.names.title, names=self.names,
            when=lambda ts, seconds=True: local_text(ts or "", self.tz, seconds),
            # "a · b" of the values that are there (None, "" and jinja's Undefined are not)
            joined=lambda *vs: " · ".join(t for t in ("" if v is None else str(v).strip() for v in vs) if t))
        self.app = Starlette(routes=[
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.dashboard),
            Route("/events", self.events),
            Route("/events/{event_id}", self.event),
            Route("/integrity", self.integrity),
            Route("/discover", self.discover),
            Route("/export.csv", self.export_csv),
            Route("/export.xlsx", self.export_xlsx),
            Route("/report", self.report),
        ])

    # -- plumbing ------------------------------------------------------------------------------
    def _page(self, name: str, request: Request, status: int = 200, **ctx) -> HTMLResponse:
        s = self._session(request)
        body = self.env.get_template(name).render(session=s, path=request.url.path, **ctx)
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    def _session(self, request: Request) -> dict | None:
        sid = request.cookies.get(SESSION_COOKIE, "")
        s = self.sessions.get(sid)
        if s is None or s["expires"] < time.time():
            self.sessions.pop(sid, None)
            return None
        return s

    def _refresh(self) -> None:
        if time.monotonic() - self._refreshed > 1:
            self.index.refresh()
            self._refreshed = time.monotonic()

    def _log_access(self, s: dict, request: Request, event_id: str | None = None) -> None:
        entry = {"ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "user": s["user"],
                 "role": s["role"], "path": request.url.path, "query": str(request.url.query)[:300],
                 "client": request.client.host if request.client else ""}
        if event_id:
            entry["event"] = event_id
        with open(self.access_log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def _guard(self, request: Request):
        """(session, None) when logged in, else (None, the response to give)."""
        s = self._session(request)
        if s is None:
            return None, RedirectResponse("/login", status_code=303, headers=_HEADERS)
        self._refresh()
        return s, None

    def _login_token(self, request: Request) -> str:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest() if nonce else ""

    @staticmethod
    def _same_origin(request: Request) -> bool:
        """A POST from this console's own pages (browsers say so in Sec-Fetch-Site and Origin)."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            return False
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return site == "same-origin"  # Origin withheld: only a browser's own same-origin word
        return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"

    # -- login -----------------------------------------------------------------------------------
    async def login(self, request: Request):
        if request.method == "GET":
            nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
            token = hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()
            resp = self._page("login.html", request, csrf=token, error="")
            resp.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", max_age=900)
            return resp
        form = await request.form()
        name = str(form.get("user", ""))[:64]
        expected = self._login_token(request)  # "" without the login cookie: then nothing matches
        if not self._same_origin(request) or not expected or not hmac.compare_digest(str(form.get("csrf", "")),
                                                                                     expected):
            return self._page("login.html", request, 403, csrf=self._login_token(request),
                              error="请求来源无效，请重新打开登录页 / invalid form, reload the page")
        now = time.time()
        recent = [t for t in self.failures.get(name, []) if now - t < LOCK_SECONDS]
        if len(recent) >= MAX_FAILURES:
            return self._page("login.html", request, 429, csrf=self._login_token(request),
                              error="失败次数过多，请 5 分钟后再试 / too many failures: try again in 5 minutes")
        # Counted before the password is checked (no await in between): concurrent guesses each
        # take a slot, so no more than MAX_FAILURES are ever checked per window; success clears it.
        self.failures[name] = recent + [now]
        role = await asyncio.to_thread(accounts.check, accounts.load(self.users_file), name,
                                       str(form.get("password", "")))
        if role is None:
            await asyncio.sleep(0.5)
            return self._page("login.html", request, 401, csrf=self._login_token(request),
                              error="用户名或密码错误 / wrong name or password")
        self.failures.pop(name, None)
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = {"user": name, "role": role, "csrf": secrets.token_urlsafe(24),
                              "expires": now + SESSION_SECONDS}
        resp = RedirectResponse("/", status_code=303, headers=_HEADERS)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", max_age=SESSION_SECONDS,
                        secure=request.url.scheme == "https")
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    async def logout(self, request: Request):
        s = self._session(request)
        form = await request.form()
        if s is None or not self._same_origin(request) or not hmac.compare_digest(str(form.get("csrf", "")),
                                                                                   s["csrf"]):
            return Response("forbidden", status_code=403, headers=_HEADERS)
        self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        resp = RedirectResponse("/login", status_code=303, headers=_HEADERS)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # -- pages ----------------------------------------------------------------------------------
    def _filters(self, request: Request) -> dict:
        f = {k: request.query_params.get(k, "").strip()[:64] for k in FILTERS}
        if not f["since"] and not f["until"] and request.url.path == "/":
            f["since"] = (today(self.tz) - dt.timedelta(days=29)).isoformat()
        return f

    def _where(self, request: Request):
        """(filters, sql, args), or (filters, None, a 400 page naming the bad value)."""
        f = self._filters(request)
        try:
            cond, args = where(f, self.tz)
        except GuardError as e:
            return f, None, self._page("error.html", request, 400, message=str(e))
        return f, cond, args

    async def dashboard(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        f, cond, args = self._where(request)
        if cond is None:
            return args
        q = self.index.query
        per_day: dict[str, dict] = {}
        background = 0
        for day, action, bg, n in q(f"SELECT day, action, background, count(*) FROM events{cond} "
                                    f"GROUP BY day, action, background ORDER BY day", args):
            if bg:  # pages and icons at an AI host are no AI use: counted apart, not charted
                background += n
                continue
            per_day.setdefault(day, {})[action] = n
        acks = {d: {"ack": c.get("ack", 0) + c.get("pending_approval", 0)} for d, c in per_day.items()}
        decided = f"{cond} {'AND' if cond else 'WHERE'} action IN ('block','warn','redact')"
        top = {
            "rules": q(f"SELECT rule, count(*) FROM rules WHERE mode = 'enforce' AND event IN "
                       f"(SELECT id FROM events{decided}) GROUP BY rule ORDER BY 2 DESC LIMIT 10", args),
            "providers": q(f"SELECT coalesce(provider, host), count(*) FROM events{cond} "
                           f"{'AND' if cond else 'WHERE'} action IN ('allow','warn','redact','block') AND background = 0 "
                           f"GROUP BY 1 ORDER BY 2 DESC LIMIT 10", args),
            "users": q(f"SELECT coalesce(user, client), count(*) FROM events{decided} GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
                       args),
            "departments": q(f"SELECT coalesce(department, '（未知）'), count(*) FROM events{decided} "
                             f"GROUP BY 1 ORDER BY 2 DESC LIMIT 10", args),
            "would": q(f"SELECT rule, count(*) FROM rules WHERE mode = 'monitor' AND event IN "
                       f"(SELECT id FROM events{cond}) GROUP BY rule ORDER BY 2 DESC LIMIT 10", args),
        }
        totals: dict[str, int] = {}
        for counts in per_day.values():  # the same rows the chart is drawn from
            for action, n in counts.items():
                totals[action] = totals.get(action, 0) + n
        top["rules"] = [(self.names.label(r), n) for r, n in top["rules"]]
        top["would"] = [(self.names.label(r), n) for r, n in top["would"]]
        self._log_access(s, request)
        return self._page("dashboard.html", request, f=f, totals=totals, background=background,
                          chart=stacked_bars(sorted(per_day.items())),
                          ack_chart=stacked_bars(sorted(acks.items()), 860, 140),
                          bars={k: hbars(v) for k, v in top.items()})

    async def events(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        f, cond, args = self._where(request)
        if cond is None:
            return args
        before = request.query_params.get("before", "")
        if before:
            ts, _, rid = before.rpartition("|")
            cond += f" {'AND' if cond else 'WHERE'} (ts < ? OR (ts = ? AND id < ?))"
            args += [ts, ts, int(rid) if rid.isdigit() else 0]
        found = self.index.query(f"SELECT id, ts, record FROM events{cond} ORDER BY ts DESC, id DESC LIMIT {PAGE + 1}",
                                 args)
        more = len(found) > PAGE
        found = found[:PAGE]
        keep = {k: v for k, v in f.items() if v}
        next_url = "/events?" + urlencode({**keep, "before": f"{found[-1][1]}|{found[-1][0]}"}) if more else ""
        # The same columns and values as the exports (guard.console.rows), without their details.
        recs = [json.loads(rec) for _, _, rec in found]
        rows = [(r, table.cells(r, self.names, self.tz, export=False, when=local_text)) for r in recs]
        self._log_access(s, request)
        return self._page("events.html", request, f=f, rows=rows, next_url=next_url, export=urlencode(keep),
                          headers=table.headers(self.tz, export=False))

    async def event(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        eid = request.path_params["event_id"]
        row = self.index.query("SELECT record, dir FROM events WHERE event_id = ? LIMIT 1", (eid,))
        if not row:
            return self._page("error.html", request, 404, message=f"没有事件 / no event {eid}")
        rec = json.loads(row[0][0])
        acks = [json.loads(r[0]) for r in self.index.query("SELECT record FROM events WHERE acknowledges = ?", (eid,))]
        for a in acks:
            if not self._may_see_reason(s, a):
                a["reason"] = "（已隐藏：仅审计员可见 / hidden: auditors only）"
        if rec.get("action") in ("ack", "pending_approval") and not self._may_see_reason(s, rec):
            rec["reason"] = "（已隐藏：仅审计员可见 / hidden: auditors only）"
        self._log_access(s, request, eid)
        return self._page("event.html", request, rec=rec, acks=acks, chain_dir=row[0][1])

    @staticmethod
    def _may_see_reason(s: dict, rec: dict) -> bool:
        # 三员分立: an officer sees the reasons other staff gave only through an auditor.
        return s["role"] == "auditor" or (rec.get("user") and rec.get("user") == s["user"])

    async def integrity(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        chains = await asyncio.to_thread(chain_status, self.dirs, self.key_file)
        self._log_access(s, request)
        return self._page("integrity.html", request, chains=chains)

    async def discover(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        found = await asyncio.to_thread(lambda: discover(records(self.dirs)))
        self._log_access(s, request)
        return self._page("discover.html", request, found=found)

    def _rows(self, request: Request, s: dict) -> list[dict]:
        cond, args = where(self._filters(request), self.tz)
        out = []
        for (rec,) in self.index.query(f"SELECT record FROM events{cond} ORDER BY ts, id", args):
            r = json.loads(rec)
            if r.get("reason") and not self._may_see_reason(s, r):
                r["reason"] = table.HIDDEN
            out.append(r)
        return out

    async def export_csv(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        try:
            body = table.to_csv(self._rows(request, s), self.names, self.tz).encode("utf-8")
        except GuardError as e:
            return self._page("error.html", request, 400, message=str(e))
        self._log_access(s, request)
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={**_HEADERS, "Content-Disposition": 'attachment; filename="ai-guard-events.csv"'})

    async def export_xlsx(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        try:
            body = await asyncio.to_thread(table.to_xlsx, self._rows(request, s), self.names, self.tz)
        except GuardError as e:
            return self._page("error.html", request, 400, message=str(e))
        self._log_access(s, request)
        return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={**_HEADERS, "Content-Disposition": 'attachment; filename="ai-guard-events.xlsx"'})

    async def report(self, request: Request):
        s, deny = self._guard(request)
        if deny:
            return deny
        start = request.query_params.get("from", "")
        end = request.query_params.get("to", "")
        fmt = request.query_params.get("format", "html")
        if not start or not end:
            first = today(self.tz).replace(day=1)
            last_end = first - dt.timedelta(days=1)
            return self._page("report.html", request, start=last_end.replace(day=1).isoformat(),
                              end=last_end.isoformat())
        try:
            data = await asyncio.to_thread(collect, self.dirs, start, end, self.key_file, self.tz, self.names)
        except Exception as e:  # a bad date: one line, not a trace
            return self._page("error.html", request, 400, message=str(e))
        show = s["role"] == "auditor"
        self._log_access(s, request)
        name = f"report-{start}-{end}"
        if fmt == "pdf":
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "r.pdf"
                await asyncio.to_thread(render_pdf, render_html(data, show), out)
                body = out.read_bytes()
            return Response(body, media_type="application/pdf",
                            headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}.pdf"'})
        if fmt == "xlsx":
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "r.xlsx"
                await asyncio.to_thread(render_xlsx, data, out, show)
                body = out.read_bytes()
            return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return HTMLResponse(render_html(data, show), headers=_HEADERS)


def serve(audit_dirs: list[str], users_file: str, listen: str, key_file: str | None = None,
          index_path: str | None = None, tz: str | None = None, policy: str | None = None) -> None:
    import uvicorn

    host, _, port = listen.rpartition(":")
    console = Console(audit_dirs, users_file, key_file, index_path, tz, policy)
    console.index.refresh()
    uvicorn.run(console.app, host=host.strip("[]") or "127.0.0.1", port=int(port), log_level="warning",
                server_header=False, proxy_headers=False)
