"""The settings window (Tk/ttk), run as its own process by `zoomwatch settings`. It only lays out
widgets: every rule lives in settings_form.py. The running tray notices the saved file and reloads."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import tkinter as tk
from tkinter import filedialog, ttk

from zoomwatch import config as configmod
from zoomwatch.errors import ConfigError
from zoomwatch.i18n import N_, T_, tr
from zoomwatch.paths import AppPaths
from zoomwatch.ui import autostart
from zoomwatch.ui import settings_form as form

SECTIONS = ("Recordings", "Destination", "Naming", "Zoom account", "Transfers", "Clean-up")
SECTION_TITLES = {"Recordings": N_("Recordings"), "Destination": N_("Destination"), "Naming": N_("Naming"),
                  "Zoom account": N_("Zoom account"), "Transfers": N_("Transfers"), "Clean-up": N_("Clean-up")}


class SettingsDialog:
    def __init__(self, root: tk.Tk, paths: AppPaths, starter: autostart.Autostart | None = None) -> None:
        self.root = root
        self.paths = paths
        self.cfg = configmod.load(paths)
        self.autostart = starter or autostart.for_this_system()
        self.vars: dict[str, tk.StringVar] = {}
        self.errors: dict[str, ttk.Label] = {}
        self.rows: dict[str, list[tk.Widget]] = {}
        root.title(T_("zoomwatch settings"))
        frame = ttk.Frame(root, padding=12)
        frame.grid(sticky="nsew")
        root.columnconfigure(0, weight=1)
        frame.columnconfigure(0, weight=1)
        values = form.current_values(self.cfg)
        stored = form.secret_status()
        self.tabs = ttk.Notebook(frame)
        self.tabs.grid(row=0, column=0, columnspan=3, sticky="nsew")
        for section in SECTIONS:
            tab = ttk.Frame(self.tabs, padding=10)
            tab.columnconfigure(1, weight=1)
            self.tabs.add(tab, text=tr(SECTION_TITLES[section]))
            row = 0
            for field in (f for f in form.FIELDS if f.section == section):
                row = self._field(tab, row, field, values[field.key], stored.get(field.key, False))
            if section == "Recordings":
                self.found = ttk.Label(tab, text="", foreground="gray30", wraplength=460)
                self.found.grid(row=row, column=1, columnspan=2, sticky="w")
            if section == "Naming":
                self.preview = ttk.Label(tab, text="", foreground="gray30", wraplength=460)
                self.preview.grid(row=row, column=1, columnspan=2, sticky="w")
            if section == "Clean-up":
                ttk.Label(tab, text=form.CLEANUP_WARNING, foreground="#8a5300", wraplength=460).grid(
                    row=row, column=0, columnspan=3, sticky="w", pady=(8, 0))
            if section == "Zoom account":
                self.account = ttk.Label(tab, text="", foreground="gray30", wraplength=380)
                self.account.grid(row=row, column=1, sticky="w")
                account_buttons = ttk.Frame(tab)
                account_buttons.grid(row=row, column=2, sticky="e")
                ttk.Button(account_buttons, text=T_("Sign in…"), command=lambda: self.zoom_command("login")).pack(
                    side="left")
                ttk.Button(account_buttons, text=T_("Sign out"), command=lambda: self.zoom_command("logout")).pack(
                    side="left")
        row = 1
        self.start_at_login = tk.BooleanVar(value=self.autostart.is_enabled())
        ttk.Checkbutton(frame, text=T_("Start zoomwatch at login"), variable=self.start_at_login).grid(
            row=row, column=0, columnspan=3, sticky="w", pady=(8, 0))
        row += 1
        self.message = ttk.Label(frame, text="", wraplength=520)
        self.message.grid(row=row, column=0, columnspan=3, sticky="w", pady=(8, 0))
        buttons = ttk.Frame(frame)
        buttons.grid(row=row + 1, column=0, columnspan=3, sticky="e", pady=(8, 0))
        self.test_button = ttk.Button(buttons, text=T_("Test connection"), command=self.test_connection)
        self.test_button.pack(side="left", padx=4)
        self.save_button = ttk.Button(buttons, text=T_("Save"), command=self.save)
        self.save_button.pack(side="left", padx=4)
        ttk.Button(buttons, text=T_("Cancel"), command=root.destroy).pack(side="left", padx=4)
        for key in ("naming.template", "naming.locale"):
            self.vars[key].trace_add("write", lambda *_: self.update_preview())
        self.vars["watch.folder"].trace_add("write", lambda *_: self.update_found())
        self.vars["destination.kind"].trace_add("write", lambda *_: self.show_destination_fields())
        self.update_preview()
        self.update_found()
        self.show_destination_fields()
        self.update_account()

    def _field(self, frame: ttk.Frame, row: int, field: form.Field, value: str, stored: bool) -> int:
        label = ttk.Label(frame, text=tr(field.label))
        label.grid(row=row, column=0, sticky="w", padx=(0, 8))
        var = tk.StringVar(value=value)
        self.vars[field.key] = var
        if field.kind == "choice":
            entry: tk.Widget = ttk.Combobox(frame, textvariable=var, values=field.choices, state="readonly")
        else:
            entry = ttk.Entry(frame, textvariable=var, width=48, show="•" if field.kind == "secret" else "")
        entry.grid(row=row, column=1, sticky="ew")
        widgets: list[tk.Widget] = [label, entry]
        if field.kind == "folder":
            button = ttk.Button(frame, text=T_("Browse…"), command=lambda: self.pick_folder(field.key))
            button.grid(row=row, column=2, padx=(4, 0))
            widgets.append(button)
        if field.kind == "secret":
            hint = ttk.Label(frame, text=T_("stored in keyring") if stored else T_("not set"), foreground="gray30")
            hint.grid(row=row, column=2, padx=(4, 0))
            widgets.append(hint)
        error = ttk.Label(frame, text="", foreground="#b3261e")
        error.grid(row=row + 1, column=1, columnspan=2, sticky="w")
        self.errors[field.key] = error
        self.rows[field.key] = [*widgets, error]
        return row + 2

    # -- live feedback ----------------------------------------------------------------------------

    def pick_folder(self, key: str) -> None:
        chosen = filedialog.askdirectory(parent=self.root, initialdir=self.vars[key].get() or None)
        if chosen:
            self.vars[key].set(chosen)

    def update_preview(self) -> None:
        text = form.preview(self.vars["naming.template"].get(), self.vars["naming.locale"].get())
        self.preview.configure(text=T_("e.g. {example}", example=text) if not text.startswith("⚠") else text)

    def update_found(self) -> None:
        self.found.configure(text=form.count_recordings(self.vars["watch.folder"].get(), self.cfg))

    def show_destination_fields(self) -> None:
        kind = self.vars["destination.kind"].get()
        for field in form.FIELDS:
            wanted = form.shown_for(field, kind)
            for widget in self.rows[field.key]:
                widget.grid() if wanted else widget.grid_remove()

    def values(self) -> dict[str, str]:
        return {key: var.get() for key, var in self.vars.items()}

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, label in self.errors.items():
            label.configure(text=tr(errors.get(key, "")))
        first = next((f for f in form.FIELDS if f.key in errors), None)
        if first is not None:  # show the tab that holds the first problem
            self.tabs.select(SECTIONS.index(first.section))

    # -- buttons ----------------------------------------------------------------------------------

    def update_account(self) -> None:
        """Who is signed in to Zoom (asked in the background: it is a network call)."""
        self.account.configure(text="…")
        self._in_background(lambda: form.zoom_account(self.paths), lambda text: self.account.configure(text=text))

    def zoom_command(self, command: str) -> None:
        """Sign in or out through the CLI in its own process (it opens the browser and waits for it)."""
        process = subprocess.Popen(settings_cli(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.account.configure(text=T_("Waiting for the browser…") if command == "login" else T_("Signing out…"))
        self._in_background(process.wait, lambda code: self.update_account())

    def _in_background(self, work, done) -> None:  # type: ignore[no-untyped-def]
        answers: queue.Queue[object] = queue.Queue()
        threading.Thread(target=lambda: answers.put(work()), name="settings-background", daemon=True).start()

        def poll() -> None:
            try:
                result = answers.get_nowait()
            except queue.Empty:
                self.root.after(100, poll)
                return
            done(result)

        poll()

    def test_connection(self) -> None:
        self.message.configure(text=T_("Testing…"))
        self.test_button.state(["disabled"])
        values = self.values()

        self._in_background(lambda: form.test_connection(values, self.paths), self._tested)

    def _tested(self, result: str) -> None:
        self.test_button.state(["!disabled"])
        self.message.configure(text=result)

    def save(self) -> bool:
        errors = form.save(self.values(), self.paths)
        self.show_errors(errors)
        if errors:
            self.message.configure(text=T_("Not everything could be saved: see the marked fields."))
            return False
        if self.start_at_login.get() != self.autostart.is_enabled():
            try:
                self.autostart.enable() if self.start_at_login.get() else self.autostart.disable()
            except ConfigError as exc:  # e.g. macOS: opened from the disk image
                self.start_at_login.set(False)
                self.message.configure(text=T_("Saved, but {title}: {message}", title=tr(exc.title),
                                               message=tr(exc.message)))
                return False
        self.message.configure(text=T_("Saved."))
        self.root.destroy()
        return True


def settings_cli(command: str) -> list[str]:
    """`zoomwatch login` / `logout` from the window: with no console window of its own on Windows."""
    return autostart.app_command(command)


def bring_to_front(root: tk.Misc, platform: str | None = None) -> None:
    """Show the window above the others. On macOS zoomwatch is a menu-bar (accessory) app, whose windows
    open behind the active app's unless it activates itself (PyObjC's AppKit, part of the app bundle)."""
    root.lift()
    root.focus_force()
    if (platform or sys.platform) == "darwin":
        try:
            from AppKit import NSApplication
        except ImportError:  # a source checkout without PyObjC: the window still opens
            return
        NSApplication.sharedApplication().activateIgnoringOtherApps_(True)


def run_dialog(paths: AppPaths) -> None:
    root = tk.Tk()
    SettingsDialog(root, paths)
    bring_to_front(root)
    root.mainloop()
