"""How an audit report reads for a person: the terminal table and the self-contained HTML page
(`zoomwatch audit --html FILE`). Works on the report's to_dict(), so any face can use it."""

from __future__ import annotations

import html
from typing import Any

from zoomwatch.i18n import N_, T_, current, format_size, tr
from zoomwatch.printable import printable

LABELS = {"safe": N_("safe"), "missing": N_("missing at the destination"),
          "different": N_("different at the destination"), "not_backed_up": N_("not backed up yet"),
          "cloud_only": N_("only in the Zoom cloud"),
          "unknown_at_destination": N_("at the destination, unknown to the catalog")}
# the state column of the text table: the state's code in English, a word in another language
STATE_NAMES = {"safe": N_("safe"), "missing": N_("missing"), "different": N_("different"),
               "not_backed_up": N_("not_backed_up"), "cloud_only": N_("cloud_only"),
               "unknown_at_destination": N_("unknown_at_destination")}
NOTES = {"zoom_folder_problem": N_("zoom folder problem"), "cloud": N_("cloud")}
COLOURS = {"safe": "#1a7f37", "missing": "#cf222e", "different": "#cf222e", "not_backed_up": "#9a6700",
           "cloud_only": "#9a6700", "unknown_at_destination": "#57606a"}


def human(size: int | None) -> str:
    if size is None:
        return "?"
    return format_size(size)


def _what(item: dict[str, Any]) -> str:
    where = item.get("path") or item.get("key") or ""
    title = item.get("title")
    return f"{title} — {where}" if title and item["state"] in ("cloud_only",) else str(where)


def verdict(report: dict[str, Any]) -> str:
    if report["error"]:
        return T_("could not check the destination: {error} — nothing was called missing",
                  error=tr(report["error"]))
    counts = report["counts"]
    summary = ", ".join(f"{n} {tr(LABELS[state])}" for state, n in counts.items() if n) or T_("no recordings found")
    return (T_("OK: every recording in scope is safe") if report["ok"] else T_("NOT SAFE")) + f" ({summary})"


def text(report: dict[str, Any], *, show_safe: bool = False) -> str:
    """The table a person reads: every file that is not safe (all with show_safe), then the verdict."""
    lines = [T_("audit of {destination}", destination=printable(report['scope'].get('destination', '?')))
             + (T_(" (read back: {percent}%)", percent=f"{report['scope']['read_data']:g}")
                if report["scope"].get("read_data") else "")]
    for note in ("zoom_folder_problem", "cloud"):
        if report["scope"].get(note) and report["scope"][note] != "listed":
            label = tr(NOTES[note])
            lines.append(f"  {label}: {printable(tr(report['scope'][note]))}")
    for item in report["items"]:
        if item["state"] == "safe" and not show_safe:
            continue
        extra = f" — {tr(item['reason'])}" if item.get("reason") else ""
        if item.get("auto_delete_date"):
            extra += T_(" (Zoom deletes it on {date})", date=item['auto_delete_date'])
        state = tr(STATE_NAMES.get(item["state"], item["state"]))
        lines.append(f"  {state:<22} {human(item.get('size')):>9}  {printable(_what(item))}"
                     f"{printable(extra)}")
    for key in report.get("repaired") or []:
        lines.append("  " + T_("queued for backup again: {key}", key=printable(key)))
    lines.append(verdict(report))
    return "\n".join(lines)


def html_page(report: dict[str, Any]) -> str:
    """One HTML file with nothing to fetch (styles inline): the verdict, the counts and every file."""
    e = html.escape
    rows = []
    for item in report["items"]:
        rows.append(
            f"<tr><td style='color:{COLOURS[item['state']]}'>{e(tr(LABELS[item['state']]))}</td>"
            f"<td>{e(item.get('title') or '')}</td><td>{e(item.get('start') or '')}</td>"
            f"<td>{e(item.get('path') or '')}</td><td>{e(item.get('key') or '')}</td>"
            f"<td style='text-align:right'>{e(human(item.get('size')))}</td>"
            f"<td>{e(tr(item.get('reason')))}</td><td>{e(item.get('auto_delete_date') or '')}</td></tr>")
    counts = "".join(f"<li>{n} {e(tr(LABELS[state]))}</li>" for state, n in report["counts"].items())
    colour = "#1a7f37" if report["ok"] else "#cf222e"
    scope = "".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in report["scope"].items())
    heads = "".join(f"<th>{e(h)}</th>" for h in (T_("State"), T_("Meeting"), T_("Start"), T_("File"), T_("Backup"),
                                                T_("Size"), T_("Why"), T_("Zoom deletes it on")))
    when = T_("From {start} to {end} (UTC)", start=report['started_at'] or '', end=report['finished_at'] or '')
    title = e(T_("zoomwatch audit"))
    return f"""<!doctype html>
<html lang="{current()}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top}}th{{text-align:left}}</style></head>
<body><h1>{title}</h1>
<p style="color:{colour};font-weight:bold">{e(verdict(report))}</p>
<p>{e(when)}</p>
<ul>{scope}</ul><ul>{counts}</ul>
<table><tr>{heads}</tr>
{''.join(rows)}
</table></body></html>
"""
