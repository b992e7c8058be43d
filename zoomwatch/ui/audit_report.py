"""How an audit report reads for a person: the terminal table and the self-contained HTML page
(`zoomwatch audit --html FILE`). Works on the report's to_dict(), so any face can use it."""

from __future__ import annotations

import html
from typing import Any

from zoomwatch.printable import printable

LABELS = {"safe": "safe", "missing": "missing at the destination", "different": "different at the destination",
          "not_backed_up": "not backed up yet", "cloud_only": "only in the Zoom cloud",
          "unknown_at_destination": "at the destination, unknown to the catalog"}
COLOURS = {"safe": "#1a7f37", "missing": "#cf222e", "different": "#cf222e", "not_backed_up": "#9a6700",
           "cloud_only": "#9a6700", "unknown_at_destination": "#57606a"}


def human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _what(item: dict[str, Any]) -> str:
    where = item.get("path") or item.get("key") or ""
    title = item.get("title")
    return f"{title} — {where}" if title and item["state"] in ("cloud_only",) else str(where)


def verdict(report: dict[str, Any]) -> str:
    if report["error"]:
        return f"could not check the destination: {report['error']} — nothing was called missing"
    counts = report["counts"]
    summary = ", ".join(f"{n} {LABELS[state]}" for state, n in counts.items() if n) or "no recordings found"
    return ("OK: every recording in scope is safe" if report["ok"] else "NOT SAFE") + f" ({summary})"


def text(report: dict[str, Any], *, show_safe: bool = False) -> str:
    """The table a person reads: every file that is not safe (all with show_safe), then the verdict."""
    lines = [f"audit of {printable(report['scope'].get('destination', '?'))}"
             + (f" (read back: {report['scope']['read_data']:g}%)" if report["scope"].get("read_data") else "")]
    for note in ("zoom_folder_problem", "cloud"):
        if report["scope"].get(note) and report["scope"][note] != "listed":
            lines.append(f"  {note.replace('_', ' ')}: {printable(str(report['scope'][note]))}")
    for item in report["items"]:
        if item["state"] == "safe" and not show_safe:
            continue
        extra = f" — {item['reason']}" if item.get("reason") else ""
        if item.get("auto_delete_date"):
            extra += f" (Zoom deletes it on {item['auto_delete_date']})"
        lines.append(f"  {item['state']:<22} {human(item.get('size')):>9}  {printable(_what(item))}"
                     f"{printable(extra)}")
    for key in report.get("repaired") or []:
        lines.append(f"  queued for backup again: {printable(key)}")
    lines.append(verdict(report))
    return "\n".join(lines)


def html_page(report: dict[str, Any]) -> str:
    """One HTML file with nothing to fetch (styles inline): the verdict, the counts and every file."""
    e = html.escape
    rows = []
    for item in report["items"]:
        rows.append(
            f"<tr><td style='color:{COLOURS[item['state']]}'>{e(LABELS[item['state']])}</td>"
            f"<td>{e(item.get('title') or '')}</td><td>{e(item.get('start') or '')}</td>"
            f"<td>{e(item.get('path') or '')}</td><td>{e(item.get('key') or '')}</td>"
            f"<td style='text-align:right'>{e(human(item.get('size')))}</td>"
            f"<td>{e(item.get('reason') or '')}</td><td>{e(item.get('auto_delete_date') or '')}</td></tr>")
    counts = "".join(f"<li>{n} {e(LABELS[state])}</li>" for state, n in report["counts"].items())
    colour = "#1a7f37" if report["ok"] else "#cf222e"
    scope = "".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in report["scope"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zoomwatch audit</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top}}th{{text-align:left}}</style></head>
<body><h1>zoomwatch audit</h1>
<p style="color:{colour};font-weight:bold">{e(verdict(report))}</p>
<p>From {e(report['started_at'] or '')} to {e(report['finished_at'] or '')} (UTC)</p>
<ul>{scope}</ul><ul>{counts}</ul>
<table><tr><th>State</th><th>Meeting</th><th>Start</th><th>File</th><th>Backup</th><th>Size</th><th>Why</th>
<th>Zoom deletes it on</th></tr>
{''.join(rows)}
</table></body></html>
"""
