"""The dashboard page: server-rendered HTML (every value escaped) with a little JavaScript, no build step.

The page lists one page of recording files grouped by meeting (search, date range, state, pagination are
query parameters, so a page of 10,000 files is one indexed query), the status, the transfers in flight with
their progress (refreshed every two seconds from /api/monitor/status), every current problem, and the
actions. Its script sends the session token in the Authorization header; it never relies on the cookie
for a change. The script and the style are served from /static/ so the Content-Security-Policy can forbid
inline scripts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from zoomwatch.app import FileState
from zoomwatch.i18n import T_, TP_, current, state_count, state_name, tr
from zoomwatch.ui.audit_report import LABELS

PER_PAGE = 50
STATES = ("", "settling", "queued", "uploading", "verified", "failed", "missing")


@dataclass(frozen=True)
class Search:
    text: str = ""
    start: str = ""
    end: str = ""
    state: str = ""
    page: int = 1

    def query(self, **changes: Any) -> str:
        values = {"q": self.text, "from": self.start, "to": self.end, "state": self.state, "page": self.page}
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _when(value: str | None) -> str:
    if not value:
        return ""
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _days_left(date: str | None, today: dt.date | None = None) -> int | None:
    """Days until Zoom deletes a cloud recording (its auto_delete_date), or None when unknown."""
    if not date:
        return None
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return None
    return (day - (today or dt.date.today())).days


def _button(label: str, method: str, url: str, *, css: str = "", confirm: str = "") -> str:
    extra = f' data-confirm="{escape(confirm)}"' if confirm else ""
    return (f'<button type="button" class="{css}" data-method="{method}" data-url="{escape(url)}"{extra}>'
            f"{escape(label)}</button>")


def _header(status: dict) -> str:
    paused = status.get("paused")
    monitoring = status.get("monitoring")
    actions = [
        _button(T_("Resume") if paused else T_("Pause"), "POST", "/api/resume" if paused else "/api/pause",
                css="pause"),
        _button(T_("Stop monitoring") if monitoring else T_("Start monitoring"), "POST",
                "/api/monitor/stop" if monitoring else "/api/monitor/start", css="monitor"),
    ]
    if status.get("can_sync_cloud"):
        actions.append(_button(T_("Sync cloud now"), "POST", "/api/sync", css="sync"))
    counts = " · ".join(tr(state_count(state, n)) for state, n in status.get("counts", {}).items() if n)
    placeholder, change = escape(T_("another Zoom folder (full path)")), escape(T_("Change watched folder"))
    return (
        f'<header><h1>zoomwatch</h1><p id="summary" data-status="{escape(str(status.get("status")))}">'
        f'{escape(tr(status.get("summary", "")))}</p>'
        f'<p class="where">'
        + T_("Watching {folder}, backing up to {destination}.",
             folder=f'<code id="watch-folder">{escape(str(status.get("watch_folder")))}</code>',
             destination=f'<code>{escape(str(status.get("destination")))}</code>')
        + " "
        f'<span id="counts">{escape(counts)}</span></p>'
        f'<div class="actions">{"".join(actions)}'
        f'<form id="folder-form"><input id="folder" name="path" '
        f'placeholder="{placeholder}" '
        f'size="40"><button type="submit">{change}</button></form></div>'
        '<p id="message" role="status"></p></header>'
    )


def _problems(problems: list[dict]) -> str:
    heading, none = escape(T_("Problems")), escape(T_("None."))
    if not problems:
        return f'<section id="problems"><h2>{heading}</h2><p class="ok">{none}</p></section>'
    items = "".join(f"<li><strong>{escape(tr(p.get('title')))}</strong>"
                    f"{' — ' + escape(tr(p.get('message'))) if p.get('message') else ''}</li>" for p in problems)
    return f'<section id="problems"><h2>{heading}</h2><ul class="problems">{items}</ul></section>'


def _transfers(status: dict) -> str:
    rows = "".join(
        f"<li>{escape(str(t['name']))} <progress max=\"{max(1, int(t['size']))}\" value=\"{int(t['done'])}\">"
        f"</progress> {100 * int(t['done']) // max(1, int(t['size']))}%</li>" for t in status.get("transfers", []))
    none, heading = escape(T_("None.")), escape(T_("Transfers in flight"))
    return (f'<section><h2>{heading}</h2><ul id="transfers">{rows or f"<li class=none>{none}</li>"}'
            "</ul></section>")


def _audit(audit: dict | None) -> str:
    """The last audit (when the engine offers audits): its time, verdict and counts, and a button to run one."""
    if audit is None:
        return ""
    last = audit.get("last")
    if last is None:
        told = escape(T_("No audit has run yet."))
    else:
        counts = ", ".join(f"{n} {tr(LABELS.get(state, state))}"
                           for state, n in (last.get("counts") or {}).items() if n)
        verdict = T_("everything is safe") if last.get("ok") else T_("NOT everything is safe")
        told = (escape(T_("Last audit {when}: {verdict}", when=_when(last.get('finished_at')) or T_("(running)"),
                          verdict=verdict))
                + f"{' — ' + escape(counts) if counts else ''}"
                f"{' — ' + escape(str(last.get('error'))) if last.get('error') else ''}")
    heading, button = escape(T_("Audit")), _button(T_("Run an audit"), "POST", "/api/audit", css="audit")
    return f'<section id="audit"><h2>{heading}</h2><p>{told}</p>{button}</section>'


def _file_row(item: dict, deletes_in: dict[str, int], can_restore: bool, links: bool) -> str:
    state = str(item["state"])
    note = ""
    if state == FileState.UPLOADING and item.get("size"):
        note = f" {100 * int(item.get('bytes_done') or 0) // max(1, int(item['size']))}%"
    if item.get("last_error") and state != FileState.VERIFIED:
        note += f" — {escape(tr(item['last_error']))}"
    days = deletes_in.get(str(item.get("remote_key") or ""))
    if days is not None and state != FileState.VERIFIED:
        left = TP_("Zoom deletes it in {n} day(s)", "Zoom deletes it in {n} day(s)", days)
        note += f' <span class="deadline">{escape(left)}</span>'
    actions = ""
    if state == FileState.VERIFIED:
        rid = int(item["id"])
        share = escape(T_("Copy share link") if links else T_("Copy path"))  # a folder backup has no link
        actions = (_button(T_("Open"), "POST", f"/api/recordings/{rid}/open", css="open")
                   + f'<button type="button" class="share" data-share="/api/recordings/{rid}/share">'
                     f"{share}</button>")
        if can_restore:
            actions += _button(T_("Restore"), "POST", f"/api/recordings/{rid}/restore", css="restore")
    return (f'<tr class="file" data-id="{int(item["id"])}"><td class="name">{escape(str(item["name"]))}</td>'
            f'<td class="state {escape(state)}">{escape(tr(state_name(state)))}{note}</td>'
            f'<td class="size">{_size(int(item["size"]))}</td><td>{escape(str(item.get("origin", "")))}</td>'
            f"<td>{actions}</td></tr>")


def _recordings(listing: dict, search: Search, deletes_in: dict[str, int], can_restore: bool, links: bool) -> str:
    body: list[str] = []
    last_meeting: tuple[Any, ...] | None = None
    for item in listing["items"]:
        meeting = item.get("meeting") or {}
        key = (meeting.get("title"), meeting.get("start"), meeting.get("meeting_id"))
        if key != last_meeting:
            last_meeting = key
            title = meeting.get("title") or T_("(meeting not known yet)")
            extra = " · ".join(x for x in (_when(meeting.get("start")), meeting.get("meeting_id") or "") if x)
            body.append(f'<tr class="meeting"><th colspan="5">{escape(str(title))}'
                        f'<span class="when">{escape(extra)}</span></th></tr>')
        body.append(_file_row(item, deletes_in, can_restore, links))
    any_state = T_("any state")
    options = "".join(f'<option value="{s}"{" selected" if s == search.state else ""}>'
                      f'{escape(tr(state_name(s)) if s else any_state)}</option>' for s in STATES)
    hint, since, until, find = (escape(T_("title, meeting ID or file name")), escape(T_("from")), escape(T_("to")),
                                escape(T_("Search")))
    form = (f'<form class="search" method="get" action="/"><input name="q" value="{escape(search.text)}" '
            f'placeholder="{hint}"> {since} '
            f'<input type="date" name="from" value="{escape(search.start)}"> {until} '
            f'<input type="date" name="to" value="{escape(search.end)}"> '
            f'<select name="state">{options}</select> <button type="submit">{find}</button></form>')
    number, pages = int(listing["page"]), int(listing["pages"])
    total = int(listing["total"])
    newer, older = escape(T_("← newer")), escape(T_("older →"))
    where = escape(T_("page {page} of {pages}", page=number, pages=pages))
    files = escape(TP_("{n} file(s)", "{n} file(s)", total))
    nav = [f'<a rel="prev" href="{escape(search.query(page=number - 1))}">{newer}</a>' if number > 1 else "",
           f'<span>{where} · {files}</span>',
           f'<a rel="next" href="{escape(search.query(page=number + 1))}">{older}</a>' if number < pages else ""]
    heads = "".join(f"<th>{escape(h)}</th>" for h in (T_("File"), T_("State"), T_("Size"), T_("From"), ""))
    empty, heading = escape(T_("No recordings.")), escape(T_("Meetings"))
    table = (f"<table id=\"recordings\"><thead><tr>{heads}"
             f"</tr></thead><tbody>{''.join(body) or f'<tr><td colspan=5>{empty}</td></tr>'}</tbody></table>")
    return (f'<section><h2>{heading}</h2>{form}{table}'
            f'<nav class="pages">{" ".join(x for x in nav if x)}</nav>'
            "</section>")


def _cloud_only(audit: dict | None) -> str:
    """Cloud recordings the last audit found not backed up yet, with Zoom's deletion date."""
    items = [i for i in ((audit or {}).get("last") or {}).get("items", []) if i.get("state") == "cloud_only"]
    if not items:
        return ""
    rows = []
    for item in items[:200]:
        days = _days_left(item.get("auto_delete_date"))
        when = TP_("Zoom deletes it in {n} day(s)", "Zoom deletes it in {n} day(s)", days) if days is not None else ""
        rows.append(f"<li>{escape(str(item.get('title') or item.get('path') or ''))} "
                    f"({escape(_when(item.get('start')))}) <span class=\"deadline\">{escape(when)}</span></li>")
    heading = escape(T_("Only in the Zoom cloud, not backed up yet"))
    return (f'<section id="cloud-only"><h2>{heading}</h2>'
            f'<ul>{"".join(rows)}'
            "</ul></section>")


def render(*, status: dict, problems: list[dict], listing: dict, search: Search, session: str,
           error: str = "", audit: dict | None = None) -> str:
    """The whole page. `audit`, when given, is {"last": AuditReport.to_dict() or None}."""
    deletes_in: dict[str, int] = {}
    for item in ((audit or {}).get("last") or {}).get("items", []):
        days = _days_left(item.get("auto_delete_date"))
        if days is not None and item.get("key"):
            deletes_in[str(item["key"])] = days
    shown_error = f'<p class="error">{escape(error)}</p>' if error else ""
    title = escape(T_("zoomwatch dashboard"))
    return (
        f'<!doctype html><html lang="{current()}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="zoomwatch-session" content="{escape(session)}">'
        f'<meta name="zoomwatch-words" content="{escape(json.dumps(_script_words(), ensure_ascii=False))}">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/dashboard.css">'
        '</head><body>'
        f"{_header(status)}{_problems(problems)}{_transfers(status)}{_audit(audit)}{_cloud_only(audit)}"
        f"{shown_error}{_recordings(listing, search, deletes_in, audit is not None, bool(status.get('share_links')))}"
        '<script src="/static/dashboard.js"></script></body></html>'
    )


def _script_words() -> dict[str, str]:
    """What the page's script says, in the language in use ({fields} filled in by the script)."""
    return {"none": T_("None."), "auditing": T_("Auditing every recording… this can take a while"),
            "restored": T_("Restored to {paths}"), "opened": T_("Opened {path}"), "copied": T_("Copied: {link}"),
            "copy": T_("Copy this link"), "watching": T_("Now watching {path}")}


def refused(why: str) -> str:
    title = escape(T_("zoomwatch dashboard"))
    return (f'<!doctype html><html lang="{current()}"><head><meta charset="utf-8">'
            f'<title>{title}</title>'
            '<link rel="stylesheet" href="/static/dashboard.css"></head><body><header><h1>zoomwatch</h1></header>'
            f'<p class="error">{escape(why)}</p></body></html>')


SCRIPT = r"""'use strict';
(function () {
  const session = document.querySelector('meta[name="zoomwatch-session"]');
  if (!session) return;
  const token = session.content;
  const wordsMeta = document.querySelector('meta[name="zoomwatch-words"]');
  const words = wordsMeta ? JSON.parse(wordsMeta.content) : {};
  function word(key, english, field, value) {
    const text = words[key] || english;
    return field ? text.replace('{' + field + '}', value) : text;
  }
  const message = document.getElementById('message');
  function say(text, bad) { message.textContent = text; message.className = bad ? 'error' : 'ok'; }
  async function call(method, url, body) {
    const init = {method: method, headers: {'Authorization': 'Bearer ' + token}};
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const answer = await fetch(url, init);
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(data.message || ('HTTP ' + answer.status));
    return data;
  }
  document.addEventListener('click', async function (event) {
    const button = event.target.closest('button[data-url]');
    if (button) {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      button.disabled = true;
      try {
        if (button.classList.contains('audit')) say(word('auditing', 'Auditing every recording…'));
        const data = await call(button.dataset.method, button.dataset.url);
        if (data.restored) say(word('restored', 'Restored to {paths}', 'paths', data.restored.join(', ')));
        else if (data.opened) say(word('opened', 'Opened {path}', 'path', data.opened));
        else window.location.reload();
      } catch (e) { say(e.message, true); } finally { button.disabled = false; }
      return;
    }
    const share = event.target.closest('button[data-share]');
    if (share) {
      try {
        const data = await call('POST', share.dataset.share);
        const text = data.link || data.location;
        try { await navigator.clipboard.writeText(text); say(word('copied', 'Copied: {link}', 'link', text)); }
        catch (e) { window.prompt(word('copy', 'Copy this link'), text); }
      } catch (e) { say(e.message, true); }
    }
  });
  document.getElementById('folder-form').addEventListener('submit', async function (event) {
    event.preventDefault();
    try {
      const data = await call('PUT', '/api/monitor/path', {path: document.getElementById('folder').value});
      say(word('watching', 'Now watching {path}', 'path', data.path));
      window.setTimeout(() => window.location.reload(), 800);
    } catch (e) { say(e.message, true); }
  });
  function progress(list, transfers) {
    list.replaceChildren();
    if (!transfers.length) {
      const li = document.createElement('li'); li.textContent = word('none', 'None.'); list.append(li);
    }
    for (const t of transfers) {
      const li = document.createElement('li');
      const bar = document.createElement('progress');
      bar.max = Math.max(1, t.size); bar.value = t.done;
      li.append(t.name + ' ', bar, ' ' + Math.floor(100 * t.done / Math.max(1, t.size)) + '%');
      list.append(li);
    }
  }
  async function refresh() {
    try {
      const status = await call('GET', '/api/monitor/status');
      const summary = document.getElementById('summary');
      summary.textContent = status.summary; summary.dataset.status = status.status;
      progress(document.getElementById('transfers'), status.transfers);
    } catch (e) { /* the next round tries again */ }
  }
  window.setInterval(refresh, 2000);
})();
"""

STYLE = """body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; }
body { color: #1d2330; }
header h1 { margin: 0; font-size: 1.4rem; } #summary { font-size: 1.1rem; font-weight: 600; margin: .3rem 0; }
code { background: #eef1f6; padding: 0 .25rem; border-radius: 3px; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .5rem 0; }
.actions form { display: flex; gap: .3rem; }
button { padding: .3rem .7rem; border: 1px solid #8a94a6; border-radius: 4px; background: #f7f8fa; cursor: pointer; }
button:hover { background: #e6eaf0; } .error { color: #a4161a; } .ok { color: #2b7a0b; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; border-bottom: 1px solid #dde2ea; }
table { width: 100%; border-collapse: collapse; } td, th { padding: .25rem .4rem; text-align: left; }
tr.meeting th { background: #f0f3f8; padding-top: .5rem; }
.when { font-weight: normal; color: #5a6478; margin-left: 1rem; }
td.state.verified { color: #2b7a0b; } td.state.failed, td.state.missing { color: #a4161a; }
.deadline { color: #a4161a; font-weight: 600; } td.size { text-align: right; white-space: nowrap; }
form.search { display: flex; gap: .3rem; flex-wrap: wrap; align-items: center; margin-bottom: .5rem; }
nav.pages { display: flex; gap: 1rem; justify-content: center; margin: .7rem 0; }
"""
