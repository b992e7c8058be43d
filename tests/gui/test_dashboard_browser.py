"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium through Debian's
chromium-driver, against a real `zoomwatch run` subprocess with real recordings backed up. The page is entered
through the one-time link `zoomwatch dashboard --no-browser` prints; the test sees the meetings, presses Pause
and sees the engine paused (`zoomwatch status --json`), then searches and pages.

DASHBOARD_SCREENSHOT=docs/dashboard.png also saves the screenshot taken for the README there."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import stop_process, wait_for, write_random
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MEETINGS = ("2024-03-04 16.30.00 Quarterly planning 91234567890", "2024-03-05 09.00.00 Design review 92345678901",
            "2024-03-06 14.15.00 Customer onboarding 93456789012")


def zw(app, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoomwatch", *args], env=app.env, capture_output=True, text=True,
                          timeout=120)


def status(app) -> dict:
    return json.loads(zw(app, "status", "--json").stdout)


@pytest.fixture
def browser(tmp_path: Path):
    assert Path(CHROMIUM).exists() and Path(DRIVER).exists(), "apt-get install chromium chromium-driver"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


@pytest.fixture
def running(app):
    app.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    for n, meeting in enumerate(MEETINGS):
        write_random(app.zoom / meeting / "zoom_0.mp4", 150_000 + n, seed=n)
        write_random(app.zoom / meeting / "meeting_saved_chat.txt", 400 + n, seed=10 + n)
    process = subprocess.Popen([sys.executable, "-m", "zoomwatch", "run"], env=app.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status(app)["counts"]["verified"] == 2 * len(MEETINGS), timeout=180,
                 what="the recordings to be backed up")
        yield app, process
    finally:
        stop_process(process, signal.SIGTERM)


def test_the_dashboard_shows_the_meetings_and_pauses_the_engine(running, browser, tmp_path: Path):
    app, process = running
    done = zw(app, "dashboard", "--no-browser")
    assert done.returncode == 0, done.stderr
    link = next(word for word in done.stdout.split() if "/login?token=" in word)
    browser.get(link)
    wait_for(lambda: browser.find_elements(By.ID, "recordings"), timeout=60, what="the dashboard page")
    meetings = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.meeting th")]
    titles = ("Customer onboarding", "Design review", "Quarterly planning")  # newest meeting first
    assert len(meetings) == 3 and all(m.startswith(t) for m, t in zip(meetings, titles, strict=True)), meetings
    states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "td.state")]
    assert states == ["verified"] * 6
    assert browser.find_element(By.ID, "summary").get_attribute("data-status") == "watching"
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DASHBOARD_SCREENSHOT"])

    browser.find_element(By.CSS_SELECTOR, "button.pause").click()
    wait_for(lambda: status(app)["status"] == "paused", timeout=60, what="the engine to be paused")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "button.pause").text == "Resume", timeout=60,
             what="the page to offer Resume")
    assert browser.find_element(By.ID, "summary").get_attribute("data-status") == "paused"

    search = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    search.send_keys("design")
    browser.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait_for(lambda: "q=design" in browser.current_url, timeout=60, what="the search to load")
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.file td.name")]
    assert sorted(shown) == ["meeting_saved_chat.txt", "zoom_0.mp4"]
    assert "Design review" in browser.find_element(By.ID, "recordings").text
    assert "Quarterly planning" not in browser.find_element(By.ID, "recordings").text

    browser.find_element(By.CSS_SELECTOR, "button.pause").click()  # Resume
    wait_for(lambda: status(app)["status"] != "paused", timeout=60, what="the engine to resume")
    assert process.poll() is None
