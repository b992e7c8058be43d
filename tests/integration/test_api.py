"""The local REST API and the dashboard's doors, with a real HTTP client (requests) against a real running
`zoomwatch run` subprocess: the key, the Host check, one-time links, pagination over many recordings,
monitoring start/stop and the watched folder. The catalog is real SQLite, filled through zoomwatch's own
Catalog before the run starts; the recordings that are backed up during a test are real files."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import backed_up_files, sha256_of, stop_process, wait_for, write_random

from zoomwatch import config as configmod
from zoomwatch.core.catalog import Catalog, FileInfo
from zoomwatch.destinations import open_destination

MEETING = "2024-03-04 16.30.00 Quarterly planning 91234567890"
SEEDED = 1234
FIRST_DAY = dt.datetime(2023, 1, 1, 9, 0)


def zw(app, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, text=True,
                          timeout=timeout)


def seed_catalog(app, count: int) -> None:
    """`count` backed-up recording files of `count` meetings, one an hour from FIRST_DAY (their Zoom files
    are long gone from the folder, as after a clean-up), written through zoomwatch's own catalog."""
    cfg = configmod.load(app.paths)
    dest = open_destination(cfg).id
    catalog = Catalog(cfg.paths.catalog_file)
    try:
        for n in range(count):
            start = FIRST_DAY + dt.timedelta(hours=n)
            path = app.home / "old" / f"{start:%Y-%m-%d %H.%M.%S} Seeded meeting {n:05d}" / "zoom_0.mp4"
            row = catalog.note_seen(dest, path, 1000 + n, 1_700_000_000_000_000_000 + n)
            catalog.mark_queued(row.id, 1000 + n, 1_700_000_000_000_000_000 + n,
                                FileInfo(title=f"Seeded meeting {n:05d}", start=start.isoformat(),
                                         meeting_id=str(80_000_000_000 + n), parsed_from="folder"))
            catalog.mark_verified(row.id, f"{n:064x}", f"{start:%Y/%m}/Seeded meeting {n:05d}/zoom_0.mp4")
    finally:
        catalog.close()


class Running:
    """A `zoomwatch run` subprocess and its dashboard."""

    def __init__(self, app) -> None:
        self.app = app
        self.process = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = str(wait_for(self._published_url, timeout=90, what="the dashboard's URL in the status file"))
        done = zw(app, "dashboard", "--api-key")
        assert done.returncode == 0, done.stderr
        self.key = done.stdout.strip()
        assert len(self.key) >= 32

    def _published_url(self) -> str | None:
        assert self.process.poll() is None, self.process.communicate()
        try:
            data = json.loads((self.app.paths.state_dir / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data.get("dashboard") if data.get("pid") == self.process.pid else None

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("headers", {"X-API-Key": self.key})
        return requests.get(self.url + path.lstrip("/"), timeout=60, **kwargs)

    def send(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("headers", {"X-API-Key": self.key})
        return requests.request(method, self.url + path.lstrip("/"), timeout=120, **kwargs)

    def status(self) -> dict:
        return json.loads(zw(self.app, "status", "--json").stdout)


@pytest.fixture
def api_app(app):
    app.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"  # the test's own XDG data dir
    return app


@pytest.fixture
def running(api_app):
    server = Running(api_app)
    yield server
    stop_process(server.process, signal.SIGTERM)
    assert server.process.returncode == 0


def test_health_needs_no_key_and_everything_else_needs_the_key_in_a_header(running):
    assert running.status()["dashboard"] == running.url  # where scripts find it
    health = requests.get(running.url + "health", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert running.url.startswith("http://127.0.0.1:")
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": running.key}):
        refused = running.get("/api/monitor/status", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"] == "unauthorized" and "X-API-Key" in refused.json()["message"]
    refused = running.send("POST", "/api/pause", headers={})
    assert refused.status_code == 401
    assert running.get("/api/monitor/status", headers={"Authorization": f"Bearer {running.key}"}).ok
    answers = [running.get(path) for path in ("/api/monitor/status", "/api/recordings", "/api/problems",
                                                 "/api/zoom/auth", "/health")]
    assert all(a.status_code == 200 for a in answers)
    assert all(running.key not in a.text for a in answers), "the API key must never be in an answer"
    assert running.get("/api/zoom/auth").json() == {"mode": "off", "signed_in": None, "problem": None}
    assert running.get("/api/nothing").status_code == 404


def test_a_host_that_is_not_loopback_is_refused(running):
    port = running.url.rsplit(":", 1)[1].strip("/")
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", f"localhost.evil.example:{port}"):
        for path in ("/health", "/api/monitor/status", "/"):
            refused = running.get(path, headers={"Host": host, "X-API-Key": running.key})
            assert refused.status_code == 403, (host, path)
            assert refused.json()["error"] == "forbidden"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert running.get("/api/monitor/status", headers={"Host": host, "X-API-Key": running.key}).ok


def test_a_one_time_link_opens_the_page_once_and_the_cookie_alone_drives_nothing(running):
    done = zw(running.app, "dashboard", "--no-browser")
    assert done.returncode == 0, done.stderr
    link = next(word for word in done.stdout.split() if word.startswith("http://127.0.0.1:"))
    assert "/login?token=" in link and running.key not in link
    browser = requests.Session()
    entered = browser.get(link, timeout=30, allow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/"
    cookie = entered.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = browser.get(running.url, timeout=30)
    assert page.status_code == 200 and "zoomwatch dashboard" in page.text
    assert running.key not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert requests.Session().get(link, timeout=30, allow_redirects=False).status_code == 401  # used up
    assert requests.get(running.url, timeout=30).status_code == 401  # no session: no page
    # the session cookie alone changes nothing and reads no API; the page sends its token in a header
    assert browser.post(running.url + "api/pause", timeout=30).status_code == 401
    assert browser.get(running.url + "api/monitor/status", timeout=30).status_code == 401
    session = browser.cookies.get_dict()
    token = next(iter(session.values()))
    assert f'content="{token}"' in page.text
    paused = requests.post(running.url + "api/pause", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert paused.ok and paused.json() == {"paused": True}
    assert running.get("/api/monitor/status").json()["paused"] is True
    wait_for(lambda: running.status()["status"] == "paused", what="the published status to say paused")
    assert running.send("POST", "/api/resume").ok
    assert wait_for(lambda: running.status()["status"] != "paused", what="the engine to resume")


def test_pagination_search_and_filters_over_many_recordings(api_app):
    seed_catalog(api_app, SEEDED)
    sha = write_random(api_app.zoom / MEETING / "zoom_0.mp4", 200_000)
    running = Running(api_app)
    try:
        wait_for(lambda: running.get("/api/recordings?state=verified&q=Quarterly").json()["total"] == 1,
                 timeout=120, what="the new recording to be backed up")
        first = running.get("/api/recordings").json()
        assert (first["page"], first["per_page"], first["total"]) == (1, 50, SEEDED + 1)
        assert first["pages"] == -(-(SEEDED + 1) // 50)
        assert first["items"][0]["meeting"]["title"] == "Quarterly planning"  # the newest meeting first
        assert first["items"][0]["sha256"] == sha and first["items"][0]["state"] == "verified"
        seen: list[int] = []
        starts: list[str] = []
        page = 1
        while True:
            answer = running.get(f"/api/recordings?page={page}&per_page=200").json()
            seen += [item["id"] for item in answer["items"]]
            starts += [item["meeting"]["start"] for item in answer["items"]]
            if page >= answer["pages"]:
                break
            page += 1
        assert page == 7 and len(seen) == SEEDED + 1 == len(set(seen))
        assert starts == sorted(starts, reverse=True)
        past = running.get("/api/recordings?page=99&per_page=200").json()
        assert past["items"] == [] and past["total"] == SEEDED + 1
        assert running.get("/api/recordings?per_page=100000").json()["per_page"] == 500

        found = running.get("/api/recordings?q=meeting 0012").json()  # 00120 ... 00129
        assert found["total"] == 10 and {i["meeting"]["title"] for i in found["items"]} == \
            {f"Seeded meeting {n:05d}" for n in range(120, 130)}
        assert running.get("/api/recordings?q=80000000042").json()["total"] == 1  # a meeting ID
        assert running.get("/api/recordings?q=100%25").json()["total"] == 0  # % is a character, not a wildcard
        day = running.get("/api/recordings?from=2023-01-02&to=2023-01-02&per_page=100").json()
        assert day["total"] == 24
        assert {i["meeting"]["start"][:10] for i in day["items"]} == {"2023-01-02"}
        assert running.get("/api/recordings?state=failed").json()["total"] == 0

        one = running.get(f"/api/recordings/{first['items'][0]['id']}").json()
        assert one == first["items"][0]
        assert running.get("/api/recordings/999999").status_code == 404
        for bad in ("page=two", "state=lost", "from=yesterday"):
            refused = running.get(f"/api/recordings?{bad}")
            assert refused.status_code == 400 and refused.json()["error"] == "bad_request", bad
    finally:
        stop_process(running.process, signal.SIGTERM)


def test_monitoring_stops_starts_and_watches_another_folder(running, tmp_path: Path):
    status = running.get("/api/monitor/status").json()
    assert status["monitoring"] is True and status["share_links"] is False  # a folder: paths, not links
    stopped = running.send("POST", "/api/monitor/stop")
    assert stopped.status_code == 200 and stopped.json() == {"monitoring": False, "changed": True}
    assert wait_for(lambda: running.status()["status"] == "stopped", what="the published status to say stopped")
    write_random(running.app.zoom / MEETING / "zoom_0.mp4", 5000)
    assert running.send("POST", "/api/monitor/stop").json()["changed"] is False
    started = running.send("POST", "/api/monitor/start")
    assert started.json() == {"monitoring": True, "changed": True}
    wait_for(lambda: backed_up_files(running.app.backup), timeout=120, what="the folder to be watched again")

    other = tmp_path / "Other Zoom"
    other.mkdir()
    moved = running.send("PUT", "/api/monitor/path", json={"path": str(other)})
    assert moved.status_code == 200 and moved.json() == {"path": str(other), "monitoring": True}
    assert running.get("/api/monitor/status").json()["watch_folder"] == str(other)
    assert zw(running.app, "config", "get", "watch.folder").stdout.strip() == str(other)
    write_random(other / "2024-05-06 10.00.00 Moved here 81234567890" / "zoom_0.mp4", 4000, seed=3)
    wait_for(lambda: any("Moved here" in k for k in backed_up_files(running.app.backup)), timeout=120,
             what="a recording in the new folder to be backed up")

    for body, why in (({"path": str(tmp_path / "nowhere")}, "does not exist"), ({"path": "relative/dir"}, "full path"),
                      ({"folder": str(other)}, '{"path"')):
        refused = running.send("PUT", "/api/monitor/path", json=body)
        assert refused.status_code == 400 and why in refused.json()["message"], body
    not_json = running.send("PUT", "/api/monitor/path", data=b"{oops", headers={"X-API-Key": running.key})
    assert not_json.status_code == 400 and not_json.json()["message"] == "the request body is not JSON"
    assert running.send("GET", "/api/monitor/stop").status_code == 405
    assert running.send("POST", "/api/sync").status_code == 409  # cloud backup is off


def test_dashboard_command_when_nothing_runs_says_so(api_app):
    done = zw(api_app, "dashboard", "--no-browser")
    assert done.returncode == 1 and "no running zoomwatch serves a dashboard" in done.stderr
    assert json.loads(zw(api_app, "status", "--json").stdout)["dashboard"] is None


def test_headless_commands_load_no_web_framework(api_app):
    """`zoomwatch --version`, `status` and `config` keep their start-up: no Starlette, no uvicorn."""
    probe = ("import sys\nfrom zoomwatch.ui import cli\n"
             "for argv in (['--version'], ['status'], ['status', '--json'], ['config', 'show'], ['dashboard']):\n"
             "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
             "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', "
             "'anyio', 'h11')))\n")
    done = subprocess.run([sys.executable, "-c", probe], env=api_app.env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


def test_audit_from_the_api_and_restore_of_one_file(running):
    assert running.get("/api/audit").json() == {"last": None, "running": False}
    sha = write_random(running.app.zoom / MEETING / "zoom_0.mp4", 300_000)
    wait_for(lambda: running.get("/api/recordings?state=verified").json()["total"] == 1, timeout=120,
             what="the recording to be backed up")
    report = running.send("POST", "/api/audit")
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True and report.json()["counts"]["safe"] == 1
    assert [i["state"] for i in report.json()["items"]] == ["safe"]
    assert running.get("/api/audit").json()["last"] == report.json()
    (stored,) = backed_up_files(running.app.backup).values()
    stored.write_bytes(b"not the recording")  # corrupted at the destination
    again = running.send("POST", "/api/audit").json()
    assert again["ok"] is False and again["counts"]["different"] == 1

    item = running.get("/api/recordings").json()["items"][0]
    stored.write_bytes((running.app.zoom / MEETING / "zoom_0.mp4").read_bytes())  # repaired by hand
    restored = running.send("POST", f"/api/recordings/{item['id']}/restore")
    assert restored.status_code == 200, restored.text
    (path,) = [Path(p) for p in restored.json()["restored"]]
    assert path.is_relative_to(running.app.home) and path.name == "zoom_0.mp4"
    assert sha256_of(path) == sha
    assert running.send("POST", "/api/recordings/999999/restore").status_code == 404


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_tray_opens_its_own_dashboard_on_the_configured_port_and_a_taken_port_is_said(api_app, monkeypatch,
                                                                                          caplog):
    import socket

    from zoomwatch.app import Engine
    from zoomwatch.ui import web
    from zoomwatch.ui.tray import TrayApp

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    port = _free_port()
    api_app.set("dashboard.port", str(port))
    engine = Engine(api_app.load())
    engine.acquire()
    links: list[str] = []
    try:
        dashboard = web.start(engine)
        assert dashboard is not None and dashboard.url == f"http://127.0.0.1:{port}/"
        assert json.loads((api_app.paths.state_dir / "status.json").read_text())["dashboard"] == dashboard.url
        TrayApp(engine, browser=links.append).open_dashboard()
        (link,) = links
        entered = requests.get(link, timeout=30, allow_redirects=False)
        assert entered.status_code == 303
        assert requests.get(link, timeout=30, allow_redirects=False).status_code == 401
    finally:
        web.stop()
        engine.close()
    assert web.running() is None

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = int(taken.getsockname()[1])
        api_app.set("dashboard.port", str(busy))
        engine = Engine(api_app.load())
        try:
            assert web.start(engine) is None
        finally:
            engine.close()
    assert f"port {busy} (Address already in use)" in caplog.text and "dashboard.port" in caplog.text


def test_the_page_escapes_every_name_and_shows_when_zoom_deletes_a_cloud_recording_not_yet_safe():
    """The page as rendered from the API's answers: a hostile title stays text, and the last audit's cloud
    recordings not backed up yet show Zoom's deletion date as days left."""
    from zoomwatch.ui.web import page

    today = dt.date.today()
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    item = {"id": 7, "path": f"/z/{hostile}/zoom_0.mp4", "name": f"{hostile}.mp4", "state": "failed", "size": 10,
            "bytes_done": 0, "sha256": None, "remote_key": "2024/03/a/zoom_0.mp4", "attempts": 1,
            "last_error": hostile, "verified_at": None, "origin": "cloud",
            "meeting": {"title": hostile, "start": "2024-03-04T16:30:00", "meeting_id": "912"}}
    audit = {"last": {"ok": False, "started_at": "2024-03-05T10:00:00Z", "finished_at": "2024-03-05T10:01:00Z",
                      "counts": {"safe": 0, "cloud_only": 1}, "error": None, "items": [
                          {"state": "cloud_only", "title": "Board meeting", "start": "2024-03-01T10:00:00Z",
                           "meeting_id": "913", "key": None, "path": "GMT20240301.mp4", "size": 5, "reason": None,
                           "auto_delete_date": (today + dt.timedelta(days=12)).isoformat()},
                          {"state": "not_backed_up", "title": hostile, "start": None, "meeting_id": None,
                           "key": "2024/03/a/zoom_0.mp4", "path": None, "size": 10, "reason": "failed",
                           "auto_delete_date": (today + dt.timedelta(days=3)).isoformat()}]}}
    html = page.render(status={"summary": hostile, "status": "error", "watch_folder": hostile, "destination": "d",
                               "counts": {}, "transfers": [{"name": hostile, "size": 10, "done": 5}]},
                       problems=[{"title": hostile, "message": hostile}],
                       listing={"page": 1, "per_page": 50, "total": 1, "pages": 1, "items": [item]},
                       search=page.Search(text=hostile), session="s", audit=audit)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Board meeting" in html and "Zoom deletes it in 12 day(s)" in html
    assert "Zoom deletes it in 3 day(s)" in html  # the failed file of a cloud recording, by its key
    assert "NOT everything is safe" in html


@pytest.mark.parametrize(("share_links", "button", "not_shown"), [(False, "Copy path", "Copy share link"),
                                                                   (True, "Copy share link", "Copy path")])
def test_a_backed_up_file_offers_a_share_link_only_where_the_destination_makes_links(share_links, button, not_shown):
    """A folder backup has a path, not a link (status["share_links"] is False for it): its button says so."""
    from zoomwatch.ui.web import page

    item = {"id": 3, "path": "/z/m/zoom_0.mp4", "name": "zoom_0.mp4", "state": "verified", "size": 10,
            "bytes_done": 10, "sha256": "ab" * 32, "remote_key": "2024/03/m/zoom_0.mp4", "attempts": 1,
            "last_error": None, "verified_at": "2024-03-04T17:00:00Z", "origin": "local",
            "meeting": {"title": "Standup", "start": "2024-03-04T16:30:00", "meeting_id": "912"}}
    html = page.render(status={"summary": "", "status": "watching", "watch_folder": "/z", "destination": "d",
                               "share_links": share_links, "counts": {}, "transfers": []},
                       problems=[], listing={"page": 1, "per_page": 50, "total": 1, "pages": 1, "items": [item]},
                       search=page.Search(), session="s")
    assert f'data-share="/api/recordings/3/share">{button}</button>' in html and not_shown not in html
