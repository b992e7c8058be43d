"""The local web server: a Starlette application run by uvicorn in a thread of the running zoomwatch, on
127.0.0.1 only (never 0.0.0.0), on dashboard.port (0 = any free port).

Every request must name a loopback host (`Host: 127.0.0.1:PORT`, `localhost` or `[::1]`), else 403: a page
whose DNS name is rebound to 127.0.0.1 cannot reach it. `/health` needs nothing more. Everything under `/api/`
needs the API key (`X-API-Key` or `Authorization: Bearer`) or a session token in the same headers, never a
cookie alone, so another page in the browser cannot drive it; a wrong or missing one is a 401 with a JSON
error. The page itself (`/`) is reached through a one-time link (`/login?token=`), which becomes a session: an
HttpOnly, SameSite=Strict cookie lets the browser load the page, and the page's own requests send the session
token in a header. No answer ever holds the API key or any other secret.

Routes (the REST API as the README documents it):
  GET  /health                         GET  /api/monitor/status        POST /api/monitor/start
  POST /api/monitor/stop               PUT  /api/monitor/path          GET  /api/recordings
  GET  /api/recordings/{id}            POST /api/recordings/{id}/open  POST /api/recordings/{id}/share
  POST /api/pause  POST /api/resume    POST /api/sync                  GET  /api/problems
  GET  /api/zoom/auth                  POST /api/audit                 GET  /api/audit (the last one)
  POST /api/recordings/{id}/restore    POST /api/dashboard/link (a one-time link for the page)
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zoomwatch import __version__
from zoomwatch.app import Engine, FileState, RestoreFailed, restore
from zoomwatch.errors import ConfigError, ZoomwatchError
from zoomwatch.ui.web import page
from zoomwatch.ui.web.auth import Access, api_key

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
STARTED_WITHIN_SECONDS = 30.0
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
}

Handler = Callable[[Request], Awaitable[Response]]


def is_loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback (with or without a port)."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rpartition(":")[0] if ":" in host else host
    return name in LOOPBACK_NAMES


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


class LoopbackOnly:
    """ASGI middleware: refuse a request whose Host is not a loopback name; add the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if not is_loopback_host(host):
            response = _error(403, "forbidden", "this server answers only requests to 127.0.0.1 or localhost "
                                                "(the Host header named another name)")
            await response(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def presented_token(request: Request) -> str:
    """The key or session token a request carries in a header (never a cookie)."""
    key = request.headers.get("x-api-key", "")
    if key:
        return key
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


class Api:
    """The routes, bound to one engine and one Access."""

    def __init__(self, engine: Engine, access: Access, port: int) -> None:
        self.engine = engine
        self.access = access
        self.cookie = f"zoomwatch_session_{port}"  # cookies are per host, not per port
        self._auditing = threading.Lock()  # one audit at a time

    def guarded(self, work: Callable[..., Any], status: int = 200) -> Handler:
        """An API route: the key (or a session) in a header, then `work` on a worker thread; a
        ZoomwatchError the person can fix is a 400 saying what to do."""

        async def endpoint(request: Request) -> Response:
            if not self.access.allows(presented_token(request)):
                return _error(401, "unauthorized", "a valid API key is needed: send it as X-API-Key: KEY or "
                                                   "Authorization: Bearer KEY (zoomwatch dashboard --api-key "
                                                   "shows it)")
            body: Any = None
            if request.method in ("PUT", "POST") and await request.body():
                try:
                    body = json.loads(await request.body())
                except ValueError:
                    return _error(400, "bad_request", "the request body is not JSON")
            try:
                result = await run_in_threadpool(work, request, *([] if body is None else [body]))
            except ConfigError as exc:
                return _error(400, "bad_request", f"{exc.title}: {exc.message}")
            except ZoomwatchError as exc:
                return _error(502 if exc.retryable else 400, "failed", f"{exc.title}: {exc.message}")
            if isinstance(result, Response):
                return result
            return JSONResponse(result, status_code=status)

        return endpoint

    # -- the REST API -------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    def monitor_status(self, request: Request) -> Any:
        return self.engine.monitor_status()

    def monitor_start(self, request: Request) -> Any:
        started = self.engine.start_monitoring()
        log.info("monitoring %s from the dashboard", "started" if started else "was already on; asked again")
        return {"monitoring": self.engine.monitoring, "changed": started}

    def monitor_stop(self, request: Request) -> Any:
        stopped = self.engine.stop_monitoring()
        log.info("monitoring %s from the dashboard", "stopped" if stopped else "was already off; asked again")
        return {"monitoring": self.engine.monitoring, "changed": stopped}

    def monitor_path(self, request: Request, body: Any = None) -> Any:
        folder = body.get("path") if isinstance(body, dict) else None
        if not isinstance(folder, str):
            return _error(400, "bad_request", 'send JSON like {"path": "/home/me/Documents/Zoom"}')
        watched = self.engine.set_watch_folder(folder)
        log.info("watched folder changed to %s from the dashboard", watched)
        return {"path": str(watched), "monitoring": self.engine.monitoring}

    def recordings(self, request: Request) -> Any:
        query = request.query_params
        try:
            number, per_page = int(query.get("page", "1")), int(query.get("per_page", "50"))
        except ValueError:
            return _error(400, "bad_request", "page and per_page are whole numbers")
        return self.engine.recordings(page=number, per_page=per_page, text=query.get("q", ""),
                                      start=query.get("from", ""), end=query.get("to", ""),
                                      state=query.get("state", ""))

    def recording(self, request: Request) -> Any:
        found = self.engine.recording(int(request.path_params["id"]))
        return found if found is not None else _error(404, "not_found", "no recording file with this id")

    def open_recording(self, request: Request) -> Any:
        location = self.engine.recording_location(int(request.path_params["id"]))
        if location is None:
            return _error(404, "not_found", "this recording file is not backed up (yet)")
        link = self.engine.recording_share_link(int(request.path_params["id"]))
        if link:
            import webbrowser

            webbrowser.open(link)
        else:
            from zoomwatch.ui.tray import open_in_file_manager

            target = Path(location)
            open_in_file_manager(str(target.parent if target.suffix else target))
        return {"opened": location}

    def share_recording(self, request: Request) -> Any:
        row_id = int(request.path_params["id"])
        location = self.engine.recording_location(row_id)
        if location is None:
            return _error(404, "not_found", "this recording file is not backed up (yet)")
        return {"link": self.engine.recording_share_link(row_id), "location": location}

    def pause(self, request: Request) -> Any:
        self.engine.pause()
        return {"paused": True}

    def resume(self, request: Request) -> Any:
        self.engine.resume()
        return {"paused": False}

    def sync(self, request: Request) -> Any:
        if not self.engine.can_sync_cloud():
            return _error(409, "cannot_sync", "Zoom cloud backup is off or signed out: zoomwatch login")
        self.engine.sync_now()
        return {"requested": True}

    def problems(self, request: Request) -> Any:
        return {"problems": self.engine.problems()}

    def zoom_auth(self, request: Request) -> Any:
        return self.engine.zoom_auth()

    def run_audit(self, request: Request) -> Any:
        """Audit now (reads only) and answer the report; 409 while another audit runs."""
        if not self._auditing.acquire(blocking=False):
            return _error(409, "busy", "an audit is running already; its report comes with GET /api/audit")
        try:
            log.info("audit started from the dashboard")
            return self.engine.run_audit().to_dict()
        finally:
            self._auditing.release()

    def last_audit(self, request: Request) -> Any:
        report = self.engine.last_audit()
        return {"last": None if report is None else report.to_dict(), "running": self._auditing.locked()}

    def restore_recording(self, request: Request) -> Any:
        """Download one backed-up file, checked against its SHA-256, into a new folder under Downloads."""
        found = self.engine.recording(int(request.path_params["id"]))
        if found is None or found["state"] != FileState.VERIFIED or not found["remote_key"]:
            return _error(404, "not_found", "this recording file is not backed up (yet)")
        try:
            written = restore(self.engine.config, found["remote_key"])
        except RestoreFailed as exc:
            return _error(502, "failed", f"{exc.title}: {exc.message}")
        log.info("restored %s from the dashboard", found["remote_key"])
        return {"restored": [str(path) for path in written]}

    def link(self, request: Request) -> Any:
        return {"url": f"{request.base_url}login?token={self.access.new_link_token()}"}

    # -- the page -----------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        session = self.access.exchange(request.query_params.get("token", ""))
        if session is None:
            return HTMLResponse(page.refused("This link was used already or is too old."), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(self.cookie, session, httponly=True, samesite="strict", path="/")
        return response

    async def index(self, request: Request) -> Response:
        session = request.cookies.get(self.cookie, "")
        if not self.access.is_session(session):
            return HTMLResponse(page.refused("Open the dashboard from zoomwatch's tray menu or with "
                                             "`zoomwatch dashboard`."), status_code=401)
        query = request.query_params
        try:
            number = max(1, int(query.get("page", "1")))
        except ValueError:
            number = 1
        search = page.Search(query.get("q", ""), query.get("from", ""), query.get("to", ""),
                             query.get("state", ""), number)
        html = await run_in_threadpool(self._render, search, session)
        return HTMLResponse(html)

    def _render(self, search: page.Search, session: str) -> str:
        try:
            listing = self.engine.recordings(page=search.page, per_page=page.PER_PAGE, text=search.text,
                                             start=search.start, end=search.end, state=search.state)
            error = ""
        except ConfigError as exc:
            listing, error = {"page": 1, "per_page": page.PER_PAGE, "total": 0, "pages": 1, "items": []}, \
                f"{exc.title}: {exc.message}"
        report = self.engine.last_audit()
        return page.render(status=self.engine.monitor_status(), problems=self.engine.problems(), listing=listing,
                           search=search, session=session, error=error,
                           audit={"last": None if report is None else report.to_dict()})

    async def script(self, request: Request) -> Response:
        return Response(page.SCRIPT, media_type="text/javascript")

    async def style(self, request: Request) -> Response:
        return Response(page.STYLE, media_type="text/css")

    def routes(self) -> list[Route]:
        g = self.guarded
        return [
            Route("/health", self.health),
            Route("/", self.index),
            Route("/login", self.login),
            Route("/static/dashboard.js", self.script),
            Route("/static/dashboard.css", self.style),
            Route("/api/monitor/status", g(self.monitor_status)),
            Route("/api/monitor/start", g(self.monitor_start), methods=["POST"]),
            Route("/api/monitor/stop", g(self.monitor_stop), methods=["POST"]),
            Route("/api/monitor/path", g(self.monitor_path), methods=["PUT"]),
            Route("/api/recordings", g(self.recordings)),
            Route("/api/recordings/{id:int}", g(self.recording)),
            Route("/api/recordings/{id:int}/open", g(self.open_recording), methods=["POST"]),
            Route("/api/recordings/{id:int}/share", g(self.share_recording), methods=["POST"]),
            Route("/api/pause", g(self.pause), methods=["POST"]),
            Route("/api/resume", g(self.resume), methods=["POST"]),
            Route("/api/sync", g(self.sync), methods=["POST"]),
            Route("/api/problems", g(self.problems)),
            Route("/api/zoom/auth", g(self.zoom_auth)),
            Route("/api/audit", g(self.run_audit), methods=["POST"]),
            Route("/api/audit", g(self.last_audit), methods=["GET"]),
            Route("/api/recordings/{id:int}/restore", g(self.restore_recording), methods=["POST"]),
            Route("/api/dashboard/link", g(self.link), methods=["POST"]),
        ]


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "not_found", f"no such endpoint: {request.method} {request.url.path}")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, "method_not_allowed", f"{request.url.path} does not take {request.method}")


def build_app(engine: Engine, access: Access, port: int) -> Starlette:
    api = Api(engine, access, port)
    app = Starlette(routes=api.routes(), exception_handlers={404: _not_found, 405: _not_allowed})
    return app  # wrapped by LoopbackOnly in Dashboard.start


class Dashboard:
    """The server thread of one running zoomwatch."""

    def __init__(self, engine: Engine, access: Access, sock: socket.socket) -> None:
        self.engine = engine
        self.access = access
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}/"
        # log_config=None: uvicorn's own warnings go to zoomwatch's log (its handlers), not a console of their own
        config = uvicorn.Config(LoopbackOnly(build_app(engine, access, self.port)), log_level="warning",
                                log_config=None, access_log=False, lifespan="off", server_header=False)
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="zoomwatch-dashboard", daemon=True)

    @classmethod
    def start(cls, engine: Engine) -> Dashboard:
        """Bind 127.0.0.1:dashboard.port (OSError when taken), serve in a thread, publish the URL."""
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets' connections, and without it
        # every answer on a kept-alive connection waited ~40 ms (Nagle against the client's delayed ACK)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((HOST, int(engine.setting("dashboard.port"))))  # type: ignore[call-overload]
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        key, _kept = api_key()
        dashboard = cls(engine, Access(key), sock)
        dashboard._thread.start()
        deadline = time.monotonic() + STARTED_WITHIN_SECONDS
        while not dashboard._server.started and dashboard._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        engine.publish_dashboard(dashboard.url)
        log.info("dashboard at %s (open it from the tray or with: zoomwatch dashboard)", dashboard.url)
        return dashboard

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:  # noqa: BLE001 - a failing dashboard must not take zoomwatch down
            log.exception("the dashboard stopped unexpectedly")

    def one_time_link(self) -> str:
        return f"{self.url}login?token={self.access.new_link_token()}"

    def stop(self) -> None:
        self.engine.publish_dashboard("")
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
